"""Conversation throughput and responsiveness, measured side by side in one run, on this machine, now:

  1. engine    text turns/s through Engine + storage alone (no transport) on SQLite (a file in a temp dir) and
               on PostgreSQL (a fresh schema, dropped at the end): N consented users, each sending turns that
               run no assessment (/help, a text where a button is expected, the menu's Help button), all users
               at once; turns/s and p50/p95 latency per database.
  2. telegram  updates/s end to end through python-telegram-bot against the fake Bot API server
               (tests/fakes/telegram_api.py, in this process, on loopback): our service (TelegramTransport +
               Engine, long polling) handling M text updates spread over users, vs a bare python-telegram-bot
               echo bot (one MessageHandler replying the text) against the same fake server; the ratio ours/echo.
               The echo bot runs twice, with the library's default (updates one at a time) and with 16
               concurrent updates (our transport's slot count); the ratio is against the faster of the two.
  3. stall     the event loop's stall while photos are checked and 20 check-ins are assessed (real photos from
               ../shared/data/acne-lesions/valid/images, the shipped model, WorkerPool(workers=2)) while other users
               send text turns at a fixed offered rate: a ticker task asks to wake every 10 ms and records how late
               it wakes; p99 latency of the other users' turns (target < 100 ms), next to the same load with no
               pipeline work (baseline). Side by side: the pipeline in worker processes (as the service runs it)
               and in threads of the chat process (in_process=True, as it ran before), with the assessments'
               throughput of each.

    .venv/bin/python bench/bench_conversations.py [--quick] [--no-postgres] [--part 1|2|3 ...]

Everything is bounded in count and in time (--limit seconds per measured phase). PostgreSQL is
ACNEBOT_TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test); when unreachable its rows
say so and the rest still runs. The fake Bot API server shares this process and event loop with the bot under
test (for both bots alike), so updates/s include its cost; the ratio is the figure to compare across machines.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import platform
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conversations import Choices, Engine, Image, InboundEvent, Outgoing, Text  # noqa: E402

from work.pool import WorkerPool  # noqa: E402
from conversations.i18n import t  # noqa: E402
from storage import Database  # noqa: E402
from storage.crypto import new_key_text  # noqa: E402

SHARED_DATA = Path(os.environ.get("ACNEBOT_SHARED_DATA", REPO.parent / "shared" / "data"))
VALID_IMAGES = SHARED_DATA / "acne-lesions" / "valid" / "images"
GRADE = re.compile(r"\(score \d+\)")
TICK = 0.010  # the stall ticker's period
STALL_TARGET_MS = 100.0

_ids = itertools.count(1)
_run = secrets.token_hex(3)


def message_id() -> str:
    return f"{_run}-{next(_ids)}"


# -- small statistics ----------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f}"


# -- a scripted user of the engine ---------------------------------------------------------------------------------
class User:
    """Sends InboundEvents to the engine and remembers the replies; taps buttons by action."""

    def __init__(self, engine: Engine, user_id: str, channel: str = "bench"):
        self.engine, self.user_id, self.channel = engine, user_id, channel
        self.replies: list[Outgoing] = []

    async def send(self, kind: str, payload: str = "", **fields: Any) -> float:
        """One turn; returns its latency in seconds (progress messages included in the replies)."""
        progress: list[Outgoing] = []

        async def on_progress(messages: list[Outgoing]) -> None:
            progress.extend(messages)

        event = InboundEvent(self.channel, self.user_id, message_id(), kind, payload, locale_hint="en", **fields)
        started = time.perf_counter()
        replies = await self.engine.handle(event, on_progress)
        elapsed = time.perf_counter() - started
        self.replies = progress + replies
        return elapsed

    def data_for(self, action: str) -> str:
        for message in reversed(self.replies):
            if isinstance(message, Choices):
                for data, _ in message.options:
                    if data.split(":", 1)[1] == action:
                        return data
                break
        raise RuntimeError(f"user {self.user_id}: no {action!r} button in the last prompt: {self.texts[:300]!r}")

    async def tap(self, action: str) -> float:
        return await self.send("choice", self.data_for(action))

    @property
    def texts(self) -> str:
        """What the user reads, the result picture's caption included."""
        return "\n".join(m.caption if isinstance(m, Image) else m.text for m in self.replies
                         if isinstance(m, (Text, Choices, Image)))

    async def consent(self) -> None:
        await self.send("command", "/start")
        await self.tap("yes")
        self.data_for("checkin")  # at the menu

    async def text_turn(self, index: int) -> float:
        """A turn that runs no assessment, by turns: /help, a text at the menu, the menu's Help button."""
        kind = index % 3
        if kind == 0:
            elapsed = await self.send("command", "/help")
        elif kind == 1:
            elapsed = await self.send("text", "hello")
        else:
            elapsed = await self.tap("help")
        self.data_for("help")  # every answer ends at the menu again
        return elapsed

    def asking(self) -> bool:
        """The last prompt is a question (it has a skip button), not the menu."""
        last = self.replies[-1] if self.replies else None
        return isinstance(last, Choices) and any(d.endswith(":skip") for d, _ in last.options) \
            and not any(d.endswith(":checkin") for d, _ in last.options)


# -- databases -----------------------------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    db: Database | None = None
    problem: str = ""


@contextlib.asynccontextmanager
async def open_backend(name: str, folder: Path) -> AsyncIterator[Backend]:
    """A fresh, migrated database: an SQLite file in `folder`, or a PostgreSQL schema of its own (dropped after)."""
    from storage.migrate import migrate
    from tests.pg_support import PG_URL, admin

    key = new_key_text()
    if name == "sqlite":
        db = await Database.open(f"sqlite+aiosqlite:///{folder / 'acnebot.db'}", data_dir=folder, photo_key=key)
        try:
            yield Backend(name, db)
        finally:
            await db.close()
        return

    schema = f"bench_conversations_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        await asyncio.wait_for(admin(f"CREATE SCHEMA {schema}"), 15)
    except Exception as error:  # refused, timed out, authentication failed: unusable either way
        yield Backend(name, problem=f"unreachable ({type(error).__name__})")
        return
    db = None
    try:
        await migrate(PG_URL, schema=schema)
        db = await Database.open(PG_URL, schema=schema, data_dir=folder, photo_key=key, run_migrations=False)
        yield Backend(name, db)
    finally:
        if db is not None:
            await db.close()
        await admin(f"DROP SCHEMA {schema} CASCADE")


# -- 1. engine + storage -------------------------------------------------------------------------------------------
@dataclass
class TurnFigures:
    turns: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    alone: list[float] = field(default_factory=list)  # one user's turns with nobody else talking

    @property
    def rate(self) -> float:
        return self.turns / self.seconds if self.seconds else float("nan")


async def bench_engine(db: Database, pool: WorkerPool, users: int, turns: int, limit: float) -> TurnFigures:
    engine = Engine(db, pool)
    people = [User(engine, f"u{i}-{_run}") for i in range(users)]
    await asyncio.gather(*(p.consent() for p in people))
    await asyncio.gather(*(p.text_turn(0) for p in people))  # warm: every code path once per user
    figures = TurnFigures()
    deadline = time.perf_counter() + limit
    for index in range(1, min(turns, 30) + 1):  # the service time of a turn, without queueing
        figures.alone.append(await people[0].text_turn(index))

    async def talk(person: User) -> None:
        for index in range(1, turns + 1):
            if time.perf_counter() > deadline:
                return
            figures.latencies.append(await person.text_turn(index))

    started = time.perf_counter()
    await asyncio.gather(*(talk(p) for p in people))
    figures.seconds = time.perf_counter() - started
    figures.turns = len(figures.latencies)
    return figures


# -- 2. end to end through python-telegram-bot ---------------------------------------------------------------------
@dataclass
class UpdateFigures:
    label: str
    updates: int = 0
    seconds: float = 0.0
    complete: bool = True
    sends: int = 0  # messages, edits and chat actions the bot sent in the window

    @property
    def sends_per_update(self) -> float:
        return self.sends / self.updates if self.updates else float("nan")

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else float("nan")


def burst(fake, users, count: int) -> list[dict]:
    """`count` text updates spread round-robin over `users`: texts and /help commands by turns."""
    updates = []
    for index in range(count):
        user = users[index % len(users)]
        if (index // len(users)) % 2:
            updates.append(fake.command_update(user, "/help"))
        else:
            updates.append(fake.text_update(user, "hello"))
    return updates


def sends(fake, since: int, chats: set[int]) -> int:
    from tests.fakes.telegram_api import SENDING

    return sum(1 for c in fake.calls[since:] if c.method in SENDING and c.chat_id in chats
               and not isinstance(c.result, Exception))


async def wait_until(done: Callable[[], bool], deadline: float, poll: float = 0.002) -> bool:
    while not done():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(poll)
    return True


async def bench_ours(fake, db: Database, pool: WorkerPool, folder: Path, users: int, count: int,
                     limit: float, label: str, first_user_id: int) -> UpdateFigures:
    from bot.settings import Settings
    from bot.telegram.transport import TelegramTransport

    settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.url,
                        telegram_file_base_url=f"{fake.url}/file/bot", ACNEBOT_DATA_DIR=folder)
    transport = TelegramTransport(settings, Engine(db, pool))
    handled: set[int] = set()
    transport.processor.on_done.append(lambda update: handled.add(getattr(update, "update_id", -1)))
    people = [fake.user(first_user_id + i, f"Bench{i}", "en") for i in range(users)]
    figures = UpdateFigures(label)
    await transport.start()
    try:
        async def consent(person) -> None:  # untimed: /start, Accept
            update = fake.command_update(person, "/start")
            await fake.deliver(update)
            if not await wait_until(lambda: update["update_id"] in handled, time.perf_counter() + 30):
                raise TimeoutError(f"{label}: /start not handled")
            press = fake.press_update(person, t("en", "consent.accept"))
            await fake.deliver(press)
            if not await wait_until(lambda: press["update_id"] in handled, time.perf_counter() + 30):
                raise TimeoutError(f"{label}: consent not handled")

        await asyncio.gather(*(consent(p) for p in people))
        updates = burst(fake, people, count)
        wanted = {u["update_id"] for u in updates}
        mark = len(fake.calls)
        started = time.perf_counter()
        for update in updates:
            await fake.deliver(update)
        figures.complete = await wait_until(lambda: wanted <= handled, started + limit)
        figures.seconds = time.perf_counter() - started
        figures.updates = len(wanted & handled)
        figures.sends = sends(fake, mark, {p.id for p in people})
    finally:
        await transport.stop()
    return figures


async def bench_echo(fake, users: int, count: int, limit: float, concurrent: int, label: str,
                     first_user_id: int) -> UpdateFigures:
    """A bare python-telegram-bot echo bot: one MessageHandler replying the text."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(update.message.text)

    builder = (ApplicationBuilder().token(fake.token).base_url(f"{fake.url}/bot")
               .base_file_url(f"{fake.url}/file/bot").get_updates_read_timeout(40))
    if concurrent > 1:
        builder = builder.concurrent_updates(concurrent)
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    people = [fake.user(first_user_id + i, f"Echo{i}", "en") for i in range(users)]
    chats = {p.id for p in people}
    figures = UpdateFigures(label)
    await app.initialize()
    await app.updater.start_polling(timeout=30, allowed_updates=["message", "callback_query"])
    await app.start()
    try:
        updates = burst(fake, people, count)
        mark, replied = len(fake.calls), 0
        first_mark = mark

        def done() -> bool:  # counts the echoes the server received, looking at new calls only
            nonlocal mark, replied
            calls = fake.calls
            for call in calls[mark:]:
                if call.method == "sendMessage" and call.chat_id in chats and not isinstance(call.result, Exception):
                    replied += 1
            mark = len(calls)
            return replied >= count

        started = time.perf_counter()
        for update in updates:
            await fake.deliver(update)
        figures.complete = await wait_until(done, started + limit)
        figures.seconds = time.perf_counter() - started
        figures.updates = min(replied, count)
        figures.sends = sends(fake, first_mark, chats)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    return figures


# -- 3. event-loop stall while the pipeline works -------------------------------------------------------------------
@dataclass
class StallFigures:
    label: str
    seconds: float = 0.0
    lateness: list[float] = field(default_factory=list)
    turns: list[float] = field(default_factory=list)
    jobs: int = 0  # photo checks or assessments done in the phase
    job_seconds: list[float] = field(default_factory=list)
    loop_cpu: float = 0.0  # CPU seconds of the event loop's thread in the phase
    process_cpu: float = 0.0  # CPU seconds of the whole process (pipeline threads included)

    @property
    def turn_rate(self) -> float:
        return len(self.turns) / self.seconds if self.seconds else float("nan")


class Ticker:
    """Asks to wake every TICK seconds and records how late each wake-up is (the loop's stall)."""

    def __init__(self, limit: float):
        self.lateness: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._limit = limit

    async def _run(self) -> None:
        deadline = time.perf_counter() + self._limit
        for _ in range(int(self._limit / TICK) + 1):
            if self._stop.is_set() or time.perf_counter() > deadline:
                return
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            self.lateness.append(max(0.0, time.perf_counter() - due))

    def __enter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    async def stopped(self) -> list[float]:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self.lateness


async def chatter(people: list[User], rate: float, stop: asyncio.Event, limit: float,
                  latencies: list[float]) -> None:
    """The other users: each sends text turns, with random pauses so that all of them offer `rate` turns/s."""
    interval = len(people) / rate
    deadline = time.perf_counter() + limit
    randoms = random.Random(4)

    async def one(person: User, offset: float) -> None:
        await asyncio.sleep(offset)
        for index in range(1, int(limit / interval * 3) + 2):
            if stop.is_set() or time.perf_counter() > deadline:
                return
            latencies.append(await person.text_turn(index))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval * randoms.uniform(0.5, 1.5))

    await asyncio.gather(*(one(p, randoms.uniform(0, interval)) for p in people))


async def measured(label: str, chatty: list[User], rate: float, limit: float,
                   work: Callable[[], Awaitable[list[float]]] | None, idle: float = 0.0) -> StallFigures:
    """Runs `work` (or waits `idle` seconds) while the ticker and the chatty users run."""
    figures = StallFigures(label)
    stop = asyncio.Event()
    ticker = Ticker(limit + 5)
    started = time.perf_counter()
    loop_cpu, process_cpu = time.thread_time(), time.process_time()
    with ticker:
        talking = asyncio.create_task(chatter(chatty, rate, stop, limit + 5, figures.turns))
        try:
            async with asyncio.timeout(limit):
                if work is not None:
                    figures.job_seconds = await work()
                else:
                    await asyncio.sleep(idle)
        finally:
            figures.seconds = time.perf_counter() - started
            figures.loop_cpu = time.thread_time() - loop_cpu
            figures.process_cpu = time.process_time() - process_cpu
            stop.set()
            await talking
    figures.lateness = await ticker.stopped()
    figures.jobs = len(figures.job_seconds)
    return figures


def valid_photos() -> list[bytes]:
    if not VALID_IMAGES.is_dir():
        raise SystemExit(f"shared data not found at {VALID_IMAGES} (set ACNEBOT_SHARED_DATA)")
    return [p.read_bytes() for p in sorted(VALID_IMAGES.glob("*.jpg"))]


async def bench_stall(db: Database, pool: WorkerPool, photos: list[bytes], assessments: int, chatty_users: int,
                      rate: float, limit: float, idle: float) -> list[StallFigures]:
    engine = Engine(db, pool)
    tag = secrets.token_hex(2)
    photo_ok = t("en", "checkin.face_photo_ok")

    # A probe check-in (untimed) loads the model and counts the questions skipped before the assessment runs.
    probe = User(engine, f"probe-{tag}")
    await probe.consent()
    await probe.tap("checkin")
    await probe.tap("face")
    pool = iter(photos[::-1])  # the patients below take theirs from the front
    while photo_ok not in probe.texts:
        await probe.send("photo", photo=next(pool))
    skips = 0
    while probe.asking() and skips < 50:
        await probe.tap("skip")
        skips += 1
    if not GRADE.search(probe.texts):
        raise RuntimeError(f"the probe check-in ended without a result: {probe.texts[:300]!r}")

    chatty = [User(engine, f"chat{i}-{tag}") for i in range(chatty_users)]
    patients = [User(engine, f"patient{i}-{tag}") for i in range(assessments)]
    await asyncio.gather(*(p.consent() for p in chatty + patients))
    for patient in patients:
        await patient.tap("checkin")
        await patient.tap("face")
    # Each patient gets photos of its own: different faces, so each assessment prepares its own photo.
    candidates = photos[:len(photos) // 2]
    spare = iter(candidates[assessments:])

    results = [await measured("baseline (no pipeline work)", chatty, rate, limit, None, idle)]

    async def send_photos() -> list[float]:
        async def one(index: int) -> float:
            patient = patients[index]
            seconds = await patient.send("photo", photo=candidates[index])
            for _ in range(5):  # an unusable photo: the next spare one (counted as another check)
                if photo_ok in patient.texts:
                    break
                seconds += await patient.send("photo", photo=next(spare))
            if photo_ok not in patient.texts:
                raise RuntimeError(f"{patient.user_id}: no usable photo: {patient.texts[:200]!r}")
            return seconds
        return list(await asyncio.gather(*(one(i) for i in range(assessments))))

    results.append(await measured(f"{assessments} photo checks", chatty, rate, limit, send_photos))
    for patient in patients:  # untimed: every question but the last
        for _ in range(skips - 1):
            await patient.tap("skip")
        if not patient.asking():
            raise RuntimeError(f"{patient.user_id}: expected a question, got {patient.texts[:200]!r}")

    async def assess_all() -> list[float]:
        async def one(patient: User) -> float:
            seconds = await patient.tap("skip")  # the last question: the assessment runs
            if not GRADE.search(patient.texts) or not any(isinstance(m, Image) for m in patient.replies):
                raise RuntimeError(f"{patient.user_id}: no result: {patient.texts[:200]!r}")
            return seconds
        return list(await asyncio.gather(*(one(p) for p in patients)))

    results.append(await measured(f"{assessments} assessments", chatty, rate, limit, assess_all))
    return results


# -- the run -------------------------------------------------------------------------------------------------------
@dataclass
class Config:
    users: int
    turns: int
    tg_users: int
    updates: int
    assessments: int
    chatty: int
    rate: float
    idle: float
    limit: float
    quick: bool = False


def config(args: argparse.Namespace) -> Config:
    if args.quick:
        base = Config(users=20, turns=9, tg_users=20, updates=200, assessments=4, chatty=10, rate=15, idle=2,
                      limit=60, quick=True)
    else:
        base = Config(users=50, turns=30, tg_users=50, updates=500, assessments=20, chatty=20, rate=20, idle=5,
                      limit=180)
    for name in ("users", "turns", "updates", "assessments", "rate", "limit"):
        value = getattr(args, name)
        if value is not None:
            setattr(base, name, value)
    return base


def cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return f"{os.cpu_count()} cores ({usable} usable), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


async def run(cfg: Config, backends: list[str], parts: set[int]) -> None:
    import telegram

    from tests.fakes.telegram_api import FakeTelegram

    began = time.perf_counter()
    print(f"acnebot conversation bench{' (--quick)' if cfg.quick else ''}: {cores()}; "
          f"Python {platform.python_version()}, python-telegram-bot {telegram.__version__}", flush=True)
    pool = WorkerPool(workers=2)  # worker processes, as the service runs them (2 cores here)
    engine_rows: list[tuple[str, TurnFigures | str]] = []
    telegram_rows: list[UpdateFigures | tuple[str, str]] = []
    stall_rows: list[tuple[str, StallFigures | str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="acnebot-bench-") as tmp:
            async with contextlib.AsyncExitStack() as stack:
                opened: dict[str, Backend] = {}
                for name in backends:
                    folder = Path(tmp) / name
                    folder.mkdir()
                    opened[name] = await stack.enter_async_context(open_backend(name, folder))

                # 1. engine + storage
                for name, backend in opened.items() if 1 in parts else ():
                    if backend.db is None:
                        engine_rows.append((name, backend.problem))
                        continue
                    print(f"[1] engine + {name}: {cfg.users} users x {cfg.turns} text turns ...", flush=True)
                    engine_rows.append((name, await bench_engine(backend.db, pool, cfg.users, cfg.turns,
                                                                 cfg.limit)))

                # 2. end to end: ours vs echo, interleaved, against one fake server
                fake = FakeTelegram()
                await fake.start()
                try:
                    next_user = itertools.count(1, 10_000)
                    plan: list[tuple[str, Any]] = [("echo", 1)]
                    plan += [("ours", name) for name in opened][:1]
                    plan += [("echo", 16)]
                    plan += [("ours", name) for name in opened][1:]
                    plan = plan if 2 in parts else []
                    for kind, what in plan:
                        first = 100_000_000 + next(next_user)
                        if kind == "echo":
                            label = f"echo bot, concurrent_updates={what}"
                            print(f"[2] {label}: {cfg.updates} updates ...", flush=True)
                            telegram_rows.append(await bench_echo(fake, cfg.tg_users, cfg.updates, cfg.limit,
                                                                  what, label, first))
                        elif opened[what].db is None:
                            telegram_rows.append((f"ours ({what})", opened[what].problem))
                        else:
                            label = f"ours: transport + engine + {what}"
                            print(f"[2] {label}: {cfg.updates} updates ...", flush=True)
                            telegram_rows.append(await bench_ours(fake, opened[what].db, pool,
                                                                  Path(tmp) / what, cfg.tg_users, cfg.updates,
                                                                  cfg.limit, label, first))
                finally:
                    await fake.stop()

                # 3. the loop's stall while the pipeline works: worker processes, then threads (before)
                photos = valid_photos() if 3 in parts else []
                for index, (name, backend) in enumerate(opened.items() if 3 in parts else ()):
                    if backend.db is None:
                        stall_rows.append((name, backend.problem))
                        continue
                    # Photos of their own per database: no pool's cache remembers the last run's.
                    share = photos[index::len(opened)]
                    for mode in ("processes", "threads"):
                        print(f"[3] stall on {name}, pipeline in {mode}: {cfg.assessments} check-ins, "
                              f"{cfg.chatty} users chatting at {cfg.rate:g} turns/s ...", flush=True)
                        pipeline = pool if mode == "processes" else WorkerPool(workers=2, in_process=True)
                        try:
                            for figures in await bench_stall(backend.db, pipeline, share, cfg.assessments,
                                                             cfg.chatty, cfg.rate, cfg.limit, cfg.idle):
                                figures.label = f"{mode}: {figures.label}"
                                stall_rows.append((name, figures))
                        finally:
                            if pipeline is not pool:
                                pipeline.close()
    finally:
        pool.close()
    report(cfg, engine_rows, telegram_rows, stall_rows, time.perf_counter() - began)


def report(cfg: Config, engine_rows, telegram_rows, stall_rows, seconds: float) -> None:
    if engine_rows:
        print()
        print(f"1. engine + storage, no transport: {cfg.users} users at once, text turns without assessments")
        print(f"   {'database':<12}{'turns':>7}{'turns/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
              f"{'alone p50':>11}{'p95':>7}")
        rates = {}
        for name, figures in engine_rows:
            if isinstance(figures, str):
                print(f"   {name:<12}{figures}")
                continue
            rates[name] = figures.rate
            print(f"   {name:<12}{figures.turns:>7}{figures.rate:>10.1f}{ms(pct(figures.latencies, 50)):>9}"
                  f"{ms(pct(figures.latencies, 95)):>9}{ms(pct(figures.latencies, 99)):>9}"
                  f"{ms(pct(figures.alone, 50)):>11}{ms(pct(figures.alone, 95)):>7}")
        if len(rates) == 2:
            print(f"   postgresql / sqlite turns/s: {rates['postgresql'] / rates['sqlite']:.2f}")
        print(f"   every user sends its next turn when the last is answered (closed loop), so p50 ~ {cfg.users} "
              f"users / turns/s; alone = one user's turns with nobody else talking")

    if telegram_rows:
        print()
        print(f"2. end to end through python-telegram-bot, fake Bot API on loopback: {cfg.updates} text updates "
              f"(text and /help) over {cfg.tg_users} users, sent in one burst")
        print(f"   {'bot':<44}{'updates':>8}{'updates/s':>11}{'vs echo':>9}{'sends/update':>14}")
        echoes = [f for f in telegram_rows if isinstance(f, UpdateFigures) and f.label.startswith("echo")
                  and f.complete]
        best_echo = max((f.rate for f in echoes), default=float("nan"))
        for figures in telegram_rows:
            if isinstance(figures, tuple):
                print(f"   {figures[0]:<44}{figures[1]}")
                continue
            note = "" if figures.complete else f"  (incomplete after {cfg.limit:g} s)"
            print(f"   {figures.label:<44}{figures.updates:>8}{figures.rate:>11.1f}{figures.rate / best_echo:>9.2f}"
                  f"{figures.sends_per_update:>14.2f}{note}")
        print("   vs echo = updates/s / the faster echo bot's updates/s; sends/update = Bot API sendMessage and "
              "the like per update (the echo sends 1)")

    if stall_rows:
        print()
        print(f"3. event-loop stall: {cfg.chatty} other users sending text turns at ~{cfg.rate:g}/s while the pipeline "
              f"works (WorkerPool workers=2, ticker every {TICK * 1000:.0f} ms; target: turn p99 < "
              f"{STALL_TARGET_MS:.0f} ms)")
        print(f"   {'database':<11}{'phase':<40}{'s':>6}{'jobs':>5}{'job p50 s':>10}{'stall p50':>10}{'p99':>7}"
              f"{'max':>7}{'turns':>6}{'/s':>6}{'p50':>7}{'p95':>7}{'p99':>7}{'loop':>6}{'proc':>6}  ok")
        for name, figures in stall_rows:
            if isinstance(figures, str):
                print(f"   {name:<11}{figures}")
                continue
            p99 = pct(figures.turns, 99) * 1000
            verdict = "" if not figures.job_seconds else ("yes" if p99 < STALL_TARGET_MS else "NO")
            job = f"{statistics.median(figures.job_seconds):.2f}" if figures.job_seconds else "-"
            print(f"   {name:<11}{figures.label:<40}{figures.seconds:>6.1f}{figures.jobs:>5}{job:>10}"
                  f"{ms(pct(figures.lateness, 50)):>10}{ms(pct(figures.lateness, 99)):>7}"
                  f"{ms(max(figures.lateness, default=float('nan'))):>7}{len(figures.turns):>6}"
                  f"{figures.turn_rate:>6.1f}"
                  f"{ms(pct(figures.turns, 50)):>7}{ms(pct(figures.turns, 95)):>7}{p99:>7.1f}"
                  f"{figures.loop_cpu / figures.seconds:>6.0%}{figures.process_cpu / figures.seconds:>6.0%}  {verdict}")
        for name in dict.fromkeys(n for n, f in stall_rows if not isinstance(f, str)):
            rows = {f.label.split(":")[0]: f for n, f in stall_rows
                    if n == name and not isinstance(f, str) and f.label.endswith(" assessments")}
            if {"processes", "threads"} <= rows.keys():
                p, t = rows["processes"], rows["threads"]
                print(f"   {name}: during the assessments, other users' turn p99 {pct(p.turns, 99) * 1000:.0f} ms "
                      f"in processes vs {pct(t.turns, 99) * 1000:.0f} ms in threads; assessments/s "
                      f"{p.jobs / p.seconds:.2f} vs {t.jobs / t.seconds:.2f} "
                      f"(processes / threads {(p.jobs / p.seconds) / (t.jobs / t.seconds):.2f})")
        print("   stall = how late a 10 ms timer fires (ms); turns = the other users' text turns (latency in ms); "
              "job p50 s = a photo turn's or an assessing turn's seconds;\n"
              "   loop / proc = CPU time of the event loop's thread / of the whole process, per second of the phase "
              "(100% = one core)")
    print(f"\n{cores()}; whole run {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts: finishes in under a minute")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--users", type=int, help="engine bench: simulated users")
    parser.add_argument("--turns", type=int, help="engine bench: text turns per user")
    parser.add_argument("--updates", type=int, help="Telegram bench: text updates")
    parser.add_argument("--assessments", type=int, help="stall bench: check-ins assessed")
    parser.add_argument("--rate", type=float, help="stall bench: the other users' text turns per second")
    parser.add_argument("--limit", type=float, help="seconds at most per measured phase")
    parser.add_argument("--part", type=int, choices=(1, 2, 3), action="append",
                        help="run only this part (1 engine, 2 telegram, 3 stall); repeatable")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    backends = ["sqlite"] if args.no_postgres else ["sqlite", "postgresql"]
    asyncio.run(run(config(args), backends, set(args.part or (1, 2, 3))))


if __name__ == "__main__":
    main()
