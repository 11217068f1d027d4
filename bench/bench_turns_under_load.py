"""Other patients' turns while many check in at once, measured on this machine, now.

N patients (default 40) send their face photo at once (1,280 px, as Telegram sends it) and skip every question
to their assessment (--think seconds, +-50 %, before each answer, as a person reads the question), through the real
python-telegram-bot transport polling the fake Bot API
(tests/fakes/telegram_api.py, same process), with the service's worker pool (ASSESSMENT_WORKERS, default 2).
Meanwhile one more patient asks /help every 0.2 s; each /help is timed from its delivery to the fake server
until its answer has been sent. Side by side in one run, on SQLite and on PostgreSQL:

  idle     nobody else is checking in
  push     the service as it is: a turn that asks for slow work writes its work row and frees its update slot;
           the result is pushed when the worker is done
  held     the engine without a push path, as before the work table: the turn holds its slot until the result

Reported: /help p50 / p99 / max (ms), and the check-ins' assessments per second (first photo until the last result).

    .venv/bin/python bench/bench_turns_under_load.py [--patients 40] [--think 1.0] [--webhook] [--process]
        [--backends sqlite postgresql] [--repeat N]

--process runs the service as `python -m bot serve` (its own process and event loop, as bench/bench_load.py starts
it; long polling the fake Bot API, or with --webhook its webhook), so the fake Bot API and the scripted patients
no longer share its loop; "held" has no setting there and is left out. A polled update is timed until the bot's
first message in that chat.

BENCH_TRACE=1 also prints each /help slower than 100 ms with its time since the check-ins started. The fake Bot API
and the 40 scripted patients run in the service's process and event loop, so their cost is in the figures too.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402
from PIL import Image  # noqa: E402

from bench.bench_load import admin_sql, start_replicas  # noqa: E402
from bot.service.app import ENGINE, TELEGRAM, create_app  # noqa: E402
from bot.settings import Settings  # noqa: E402
from conversations.i18n import t  # noqa: E402
from storage import Database  # noqa: E402
from storage.crypto import new_key_text  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from tests.bot.conftest import Patient, Service  # noqa: E402
from tests.conftest import FRONTAL, VALID_IMAGES  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.pg_support import PG_URL, admin  # noqa: E402
from work.pool import WorkerPool  # noqa: E402

HELP_EVERY = 0.2
TRACE_ZERO = [time.perf_counter()]


def telegram_sized(path: Path, side: int = 1280) -> bytes:
    image = Image.open(path).convert("RGB")
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=87)
    return out.getvalue()


async def start(fake: FakeTelegram, db: Database, pool: WorkerPool, folder: Path, held: bool,
                webhook: bool) -> Service:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.url,
                        telegram_file_base_url=f"{fake.url}/file/bot", ACNEBOT_DATA_DIR=folder,
                        telegram_webhook_url=f"{url}/telegram/webhook" if webhook else None,
                        rate_checkins_per_day=1000, rate_messages_per_minute=10_000)
    app = await create_app(settings, db=db, pool=pool)
    if held:
        app[ENGINE].deliver = None  # no push path: the turn waits for its work, holding its update slot
    runner = web.AppRunner(app, access_log=None)
    service = Service(app, runner, url, fake)
    app[TELEGRAM].processor.on_done.append(service._done)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return service


async def to_checkin(patient: Patient | Remote) -> None:
    await patient.command("/start")
    await patient.press("consent.accept")
    await patient.press("menu.checkin")
    await patient.press("checkin.mode_face")


async def check_in(patient: Patient | Remote, photo_update: dict, think: float) -> None:
    """The photo, then "Skip" on every question (after `think` seconds, +-50 %, as a person reads it); returns
    as soon as the bot has sent the result (it waits on the fake's calls, not by polling)."""
    fake, mark = patient.fake, len(patient.fake.calls)
    await patient.deliver(photo_update)
    while True:
        sent = fake.sent(patient.user, mark)
        if any(t("en", "result.title") in c.text for c in sent):
            return
        asked = sent and sent[-1].buttons and not any(t("en", "result.analysing") in c.text for c in sent)
        if not asked:  # the verdict, the next question or the result is on its way
            await fake.wait_for(lambda: len(fake.sent(patient.user, mark)) > len(sent), 600)
            continue
        await asyncio.sleep(think * random.uniform(0.5, 1.5))
        mark = len(fake.calls)
        await patient.press("questions.skip")


async def ask_help(patient: Patient | Remote, until: asyncio.Event) -> list[float]:
    seconds = []
    while not until.is_set():
        started = time.perf_counter()
        await patient.command("/help")
        seconds.append(time.perf_counter() - started)
        if os.environ.get("BENCH_TRACE") and seconds[-1] > 0.1:
            print(f"  slow /help at +{started - TRACE_ZERO[0]:.2f} s: {1000 * seconds[-1]:.0f} ms", flush=True)
        await asyncio.sleep(max(0.0, HELP_EVERY - seconds[-1]))
    return seconds


async def measured(asker: Patient | Remote, crowd: list, photo: bytes, think: float) -> tuple[list[float], float]:
    """The asker's /help latencies while the crowd checks in (10 s when there is none), and assessments per
    second."""
    # Telegram makes a photo's sizes on its own servers: made before the clock starts, so that 40 JPEG decodes at
    # once (in the bench's loop, which may be the service's) do not stand in the queue the service is measured by.
    check_ins = [check_in(p, p.fake.photo_update(p.user, photo), think) for p in crowd]
    done = asyncio.Event()
    helping = asyncio.ensure_future(ask_help(asker, done))
    started = TRACE_ZERO[0] = time.perf_counter()
    if check_ins:
        await asyncio.gather(*check_ins)
    else:
        await asyncio.sleep(10)
    elapsed = time.perf_counter() - started
    done.set()
    return await helping, (len(check_ins) / elapsed if check_ins else 0.0)


async def one_run(db: Database, folder: Path, patients: int, photo: bytes, mode: str,
                  think: float, webhook: bool) -> tuple[list[float], float]:
    fake = FakeTelegram()
    await fake.start()
    pool = WorkerPool(workers=int(os.environ.get("ASSESSMENT_WORKERS", "2")), queue=None)
    service = await start(fake, db, pool, folder, held=mode == "held", webhook=webhook)
    try:
        await pool.warm()
        asker = Patient(service, fake.user(9_000_000 + secrets.randbelow(10**6), "Asker"))
        await to_checkin(asker)
        crowd = [Patient(service, fake.user(8_000_000 + i + secrets.randbelow(10**5) * 100, f"P{i}"))
                 for i in range(patients if mode != "idle" else 0)]
        await asyncio.gather(*(to_checkin(p) for p in crowd))
        return await measured(asker, crowd, photo, think)
    finally:
        await service.runner.cleanup()
        pool.close()
        await fake.stop()


class Remote:
    """A patient of a service in another process: each update POSTed to its webhook, answered once its turn has
    answered; what slow work says comes later, pushed."""

    def __init__(self, fake: FakeTelegram, url: str | None, user_id: int):
        self.fake, self.url, self.user = fake, url, fake.user(user_id, f"P{user_id}")

    async def deliver(self, update: dict) -> None:
        if self.url is not None:
            if await self.fake.deliver(update, url=self.url) != 200:
                raise RuntimeError("webhook refused the update")
            return
        # polled: queued for getUpdates, answered once the bot has said something in this chat
        mark = len(self.fake.calls)
        await self.fake.deliver(update)
        await self.fake.wait_for(lambda: any(c.method != "sendChatAction" for c in self.fake.sent(self.user, mark)),
                                 120)

    async def press(self, key: str) -> None:
        label = t("en", key)
        if self.url is None:  # polled: the button may come in a later message of the turn before
            await self.fake.wait_for(lambda: any(label == b for k in self.fake.keyboards(self.user) for b, _ in k), 120)
        await self.deliver(self.fake.press_update(self.user, label))

    async def command(self, text: str) -> None:
        await self.deliver(self.fake.command_update(self.user, text))


async def process_run(backend: str, folder: Path, patients: int, photo: bytes, mode: str,
                      think: float, polling: bool) -> tuple[list[float], float]:
    database = f"bench_turns_{os.getpid()}_{secrets.token_hex(3)}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'acnebot.db'}"
    else:
        await admin_sql(f"CREATE DATABASE {database}")
        url = PG_URL.rsplit("/", 1)[0] + "/" + database
    fake = FakeTelegram()
    await fake.start()
    processes = []
    try:
        processes, (webhook,) = await start_replicas(1, fake, url, folder,
                                                     int(os.environ.get("ASSESSMENT_WORKERS", "2")), polling)
        webhook = None if polling else webhook
        asker = Remote(fake, webhook, 9_000_001)
        await to_checkin(asker)
        crowd = [Remote(fake, webhook, 8_000_000 + i) for i in range(patients if mode != "idle" else 0)]
        await asyncio.gather(*(to_checkin(p) for p in crowd))
        return await measured(asker, crowd, photo, think)
    finally:
        for process in processes:
            process.terminate()
            await process.wait()
        await fake.stop()
        if backend != "sqlite":
            await admin_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def line(backend: str, mode: str, seconds: list[float], rate: float) -> str:
    ms = sorted(1000 * s for s in seconds)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    rate_text = f"{rate:5.2f} assessments/s" if rate else ""
    return (f"{backend:10} {mode:5}  /help n={len(ms):3}  p50 {statistics.median(ms):7.1f} ms  p99 {p99:7.1f} ms"
            f"  max {ms[-1]:7.1f} ms  {rate_text}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--modes", nargs="+", default=["idle", "push", "held"])
    parser.add_argument("--think", type=float, default=1.0, help="seconds a patient takes to answer a question")
    parser.add_argument("--webhook", action="store_true", help="updates POSTed to the webhook instead of polled")
    parser.add_argument("--process", action="store_true", help="the service in its own process")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every backend and mode, interleaved; the last lines pool them")
    args = parser.parse_args()
    random.seed(20261204)
    photo = telegram_sized(VALID_IMAGES / FRONTAL)
    where = ("service in its own process, " if args.process else "") + ("webhook" if args.webhook else "polling")
    print(f"{args.patients} simultaneous Telegram check-ins ({where}; answers "
          f"{args.think} s after each question), one more patient asking /help every {HELP_EVERY} s; "
          f"{os.cpu_count()} cores")
    modes = [m for m in args.modes if not (args.process and m == "held")]  # "held" has no setting in a process
    pooled: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.repeat):
            for backend in args.backends:
                for mode in modes:
                    run_folder = Path(folder) / f"{backend}-{mode}-{round_}"
                    run_folder.mkdir()
                    seconds, rate = await run(args, backend, mode, run_folder, photo)
                    print(line(backend, mode, seconds, rate), flush=True)
                    times, rates = pooled.setdefault((backend, mode), ([], []))
                    times += seconds
                    rates.append(rate)
    if args.repeat > 1:
        print(f"pooled over {args.repeat} rounds (assessments/s: their mean)")
        for (backend, mode), (times, rates) in pooled.items():
            print(line(backend, mode, times, statistics.mean(rates)), flush=True)


async def run(args, backend: str, mode: str, folder: Path, photo: bytes) -> tuple[list[float], float]:
    if args.process:
        return await process_run(backend, folder, args.patients, photo, mode, args.think, not args.webhook)
    schema = None
    if backend == "sqlite":
        db = await Database.open(f"sqlite+aiosqlite:///{folder / 'acnebot.db'}", data_dir=folder,
                                 photo_key=new_key_text())
    else:
        schema = f"bench_turns_{os.getpid()}_{secrets.token_hex(3)}"
        await admin(f"CREATE SCHEMA {schema}")
        await migrate(PG_URL, schema=schema)
        db = await Database.open(PG_URL, schema=schema, data_dir=folder, photo_key=new_key_text(),
                                 run_migrations=False)
    try:
        return await one_run(db, folder, args.patients, photo, mode, args.think, args.webhook)
    finally:
        await db.close()
        if schema:
            await admin(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    asyncio.run(main())
