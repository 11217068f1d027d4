"""Reminder dispatch, measured on this machine, now:

  1. throughput  N due reminders (default 1,000) sent by 3 dispatcher replicas (three Database objects, engines
                 and Telegram transports in this process) against one PostgreSQL, through the fake Bot API server
                 (tests/fakes/telegram_api.py, same process and event loop, so its cost is included):
                 reminders/s, how many each replica sent, a check that every patient got exactly one, and
                 this process's CPU time per reminder (less dependent on what else the machine runs).
  2. idle        what a dispatcher costs when nothing is due: SQL statements counted with SQLAlchemy's
                 before_cursor_execute event over simulated minutes of polling (a fake clock and wait, so the count
                 is exact, not sampled), as statements per poll and per minute at REMINDER_POLL_SECONDS.

    .venv/bin/python bench/bench_reminders.py [--reminders 1000] [--replicas 3] [--poll-seconds 30] [--sqlite]

PostgreSQL is ACNEBOT_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test), in a fresh
schema dropped at the end. --sqlite runs the same on an SQLite file instead (one writer: the process lock).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event  # noqa: E402

from bot.service.reminders import ReminderDispatcher  # noqa: E402
from conversations import Engine  # noqa: E402
from work.pool import WorkerPool  # noqa: E402
from storage import Database  # noqa: E402
from storage.crypto import new_key_text  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from tests.bot.reminder_support import FakeClock, at, messages_per_chat, seed_reminders, telegram_courier  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.pg_support import PG_URL, admin  # noqa: E402


async def open_databases(count: int, sqlite: bool, folder: Path) -> tuple[list[Database], str | None]:
    key = new_key_text()
    if sqlite:
        url = f"sqlite+aiosqlite:///{folder / 'acnebot.db'}"
        first = await Database.open(url, data_dir=folder, photo_key=key)
        rest = [await Database.open(url, data_dir=folder, photo_key=key, run_migrations=False)
                for _ in range(count - 1)]
        return [first, *rest], None
    schema = f"bench_reminders_{os.getpid()}_{secrets.token_hex(3)}"
    await admin(f"CREATE SCHEMA {schema}")
    await migrate(PG_URL, schema=schema)
    return [await Database.open(PG_URL, schema=schema, data_dir=folder, photo_key=key, run_migrations=False)
            for _ in range(count)], schema


async def throughput(databases: list[Database], fake: FakeTelegram, pool: WorkerPool, n: int,
                     folder: Path) -> None:
    clock = FakeClock(at("2026-11-23 19:00:30"))
    await seed_reminders(databases[0], n, at("2026-11-23 19:00"), fake=fake)
    couriers = [telegram_courier(fake, Engine(db, pool), folder) for db in databases]
    transports = [await c.__aenter__() for c in couriers]
    try:
        replicas = [ReminderDispatcher(db, Engine(db, pool), {"telegram": t}, now=clock)
                    for db, t in zip(databases, transports)]

        async def drain(dispatcher: ReminderDispatcher) -> None:
            while await dispatcher.run_once():
                pass

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(drain(r) for r in replicas))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        for c in couriers:
            await c.__aexit__(None, None, None)
    per_chat = messages_per_chat(fake)
    once = len(per_chat) == n and set(per_chat.values()) == {1}
    print(f"throughput: {n} reminders by {len(replicas)} replicas in {seconds:.2f} s = {n / seconds:.0f} "
          f"reminders/s; per replica {[r.sent for r in replicas]}; each patient exactly once: {once}; "
          f"this process's CPU {1000 * cpu / n:.1f} ms per reminder (fake server included)")


async def idle(db: Database, fake: FakeTelegram, pool: WorkerPool, poll_seconds: float, folder: Path) -> None:
    minutes = 10
    statements: list[str] = []
    async with telegram_courier(fake, Engine(db, pool), folder) as telegram:
        clock = FakeClock(at("2026-11-24 12:00"))  # nothing due: the throughput run's are next due on 30 Nov
        dispatcher = ReminderDispatcher(db, Engine(db, pool), {"telegram": telegram}, poll_seconds=poll_seconds,
                                        now=clock)
        polls = 0

        async def wait(seconds: float) -> None:
            nonlocal polls
            polls += 1
            clock.advance(seconds=seconds)
            if polls * seconds >= minutes * 60:
                dispatcher._stopping = True

        dispatcher.wait = wait

        def count(conn, cursor, statement, *args) -> None:
            statements.append(statement)

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            await dispatcher.run()
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    per_minute = len(statements) / minutes
    print(f"idle: {polls} polls over {minutes} simulated minutes at REMINDER_POLL_SECONDS={poll_seconds:g}: "
          f"{len(statements) / polls:.1f} statements per poll, {per_minute:.1f} per minute "
          f"({sorted({s.split()[0] for s in statements})})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{'SQLite' if args.sqlite else 'PostgreSQL'}")
    fake = FakeTelegram()
    await fake.start()
    pool = WorkerPool(workers=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        databases, schema = await open_databases(args.replicas, args.sqlite, folder)
        try:
            await throughput(databases, fake, pool, args.reminders, folder)
            await idle(databases[0], fake, pool, args.poll_seconds, folder)
        finally:
            for db in databases:
                await db.close()
            if schema:
                await admin(f"DROP SCHEMA {schema} CASCADE")
            pool.close()
            await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
