"""The work table's cost against the number of patients, measured on this machine, now.

For each size (default 100 and 100,000 stored patients, each with a conversation state), with 1,000 queued rows
in the work table, on PostgreSQL and on SQLite side by side:

  claim      one worker's claim of one row and the transaction that removes it, as `acnebot worker` and the
             re-offer loop do (median and p95 over --claims rounds)
  empty      a recovery round that finds nothing due (the rows are all held): what every replica and worker
             pays every RECOVERY_INTERVAL
  old scan   the query the removed design ran every round (bot/service/recovery.py before the work table): every
             conversation state whose data holds a "work" key (PostgreSQL `data ? 'work'`, SQLite json_type),
             on the same tables, for the ratio

    .venv/bin/python bench/bench_work_queue.py [--patients 100 100000] [--queued 1000] [--claims 200]

PostgreSQL is ACNEBOT_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test), in a fresh
schema dropped at the end; SQLite is a file in a temporary folder.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select  # noqa: E402

from storage import Database, models  # noqa: E402
from storage.columns import utcnow  # noqa: E402
from storage.crypto import new_key_text  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from tests.pg_support import PG_URL, admin  # noqa: E402

LEASE = timedelta(minutes=10)
BATCH = 5_000


async def seed(db: Database, patients: int, queued: int) -> None:
    """`patients` users with a state each (a tenth mid-check-in), and `queued` work rows of the first ones."""
    now = utcnow()
    async with db.engine.begin() as connection:
        for start in range(0, patients, BATCH):
            ids = range(start + 1, min(patients, start + BATCH) + 1)
            await connection.execute(insert(models.User), [
                {"id": i, "channel": "telegram", "platform_user_id": str(i), "locale": "en", "timezone": None,
                 "consent": "accepted", "consent_at": now, "created_at": now} for i in ids])
            await connection.execute(insert(models.ConversationState), [
                {"user_id": i, "flow": "checkin", "step": "checkin.question",
                 "data": {"nonce": "ab12", "checkin": {"photos": [], "answers": {}}} if i % 10 else {},
                 "version": 1, "updated_at": now} for i in ids])
        await connection.execute(insert(models.WorkItem), [
            {"user_id": 1 + i % patients, "message_id": f"m{i}", "job": "assess", "args": {"photos": [[i, None]]},
             "then": "assessed", "status": "queued", "owner": None, "lease_until": None, "attempts": 0,
             "created_at": now, "updated_at": now} for i in range(queued)])


async def old_scan(db: Database) -> int:
    data = models.ConversationState.data
    has_key = data.op("?")("work") if db.dialect == "postgresql" else func.json_type(data, "$.work").isnot(None)
    async with db.engine.connect() as connection:
        return len((await connection.execute(select(models.ConversationState).where(has_key))).all())


async def timed(call, rounds: int) -> list[float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - started)
    return seconds


async def measure(db: Database, claims: int) -> dict[str, list[float]]:
    async def claim_and_finish() -> None:
        now = utcnow()
        (item,) = await db.work.claim("bench", now, LEASE)
        async with db.transaction():
            await db.work.finish(item.id, "bench")

    async def empty_round() -> None:  # every row is held by someone else, none expired
        assert not await db.work.claim("other", utcnow(), LEASE)

    figures = {"claim": await timed(claim_and_finish, claims)}
    held = await db.work.claim("holder", utcnow(), LEASE, limit=10**6)
    assert held, "nothing left to hold"
    figures["empty"] = await timed(empty_round, claims)
    figures["old scan"] = await timed(lambda: old_scan(db), max(3, claims // 20))
    return figures


def summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{1000 * statistics.median(ordered):8.2f} ms (p95 {1000 * p95:7.2f})"


async def on_postgresql(patients: int, queued: int, claims: int, folder: Path) -> dict[str, list[float]]:
    schema = f"bench_work_{os.getpid()}_{secrets.token_hex(3)}"
    await admin(f"CREATE SCHEMA {schema}")
    try:
        await migrate(PG_URL, schema=schema)
        db = await Database.open(PG_URL, schema=schema, data_dir=folder, photo_key=new_key_text(),
                                 run_migrations=False)
        try:
            await seed(db, patients, queued)
            async with db.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE")
            return await measure(db, claims)
        finally:
            await db.close()
    finally:
        await admin(f"DROP SCHEMA {schema} CASCADE")


async def on_sqlite(patients: int, queued: int, claims: int, folder: Path) -> dict[str, list[float]]:
    path = folder / f"work_{patients}.db"
    db = await Database.open(f"sqlite+aiosqlite:///{path}", data_dir=folder, photo_key=new_key_text())
    try:
        await seed(db, patients, queued)
        return await measure(db, claims)
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--queued", type=int, default=1_000)
    parser.add_argument("--claims", type=int, default=200)
    args = parser.parse_args()
    print(f"work table: {args.queued} queued rows, {args.claims} claims per size; median (p95) per operation")
    with tempfile.TemporaryDirectory() as folder:
        for backend, run in (("postgresql", on_postgresql), ("sqlite", on_sqlite)):
            rows = {patients: await run(patients, args.queued, args.claims, Path(folder))
                    for patients in args.patients}
            for what in ("claim", "empty", "old scan"):
                cells = "   ".join(f"{patients:>7} patients {summary(rows[patients][what])}"
                                   for patients in args.patients)
                first, last = (statistics.median(rows[p][what]) for p in (args.patients[0], args.patients[-1]))
                print(f"{backend:10} {what:8}  {cells}   ratio {last / first:6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
