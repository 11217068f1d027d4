"""Load: N simulated patients doing full check-ins (consent, photo, every question, the result) against the fake
Bot API (tests/fakes/telegram_api.py, in this process, loopback only), with 1 and with 2 service replicas
(`python -m bot serve` subprocesses, webhook mode) on one PostgreSQL database. The fake server spreads the
updates round robin over the replicas, so one patient's turns land on both.

    .venv/bin/python -m bench.bench_load --patients 500 --replicas 1 2 --concurrency 50

Per run: completed check-ins, lost messages (a turn with no answer, a check-in without its result) and
duplicated ones (a result or a question prompt sent twice), p50/p95 reply latency for text turns (the webhook
POST until it is answered, which the service does after sending its replies) and for results (the last answer
until the result arrives, queued ones included), peak RSS per replica (VmHWM). Each patient's photo is the
fixture face re-encoded with one pixel changed, so every photo is checked for real (no cache hits). The
database is a fresh one per run (CREATE DATABASE on ACNEBOT_TEST_POSTGRES_URL's server), dropped at the end.
Bounded: --limit seconds per run; patients not done by then count as lost.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conversations.i18n import t  # noqa: E402
from storage.crypto import new_key_text  # noqa: E402
from tests.conftest import FRONTAL, VALID_IMAGES  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.pg_support import PG_URL  # noqa: E402

SECRET = "bench-load-secret"
START_TIMEOUT = 180.0


@dataclass
class Run:
    patients: int
    replicas: int
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    text_ms: list[float] = field(default_factory=list)
    result_ms: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        def pct(values: list[float], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 1) if values else None
        return {"patients": self.patients, "replicas": self.replicas, "completed": self.completed,
                "lost": self.lost, "duplicated": self.duplicated, "text_turns": len(self.text_ms),
                "text_p50_ms": pct(self.text_ms, 50), "text_p95_ms": pct(self.text_ms, 95),
                "result_p50_ms": pct(self.result_ms, 50), "result_p95_ms": pct(self.result_ms, 95),
                "peak_rss_mb": self.peak_rss_mb, "seconds": round(self.seconds, 1),
                "checkins_per_minute": round(self.completed / self.seconds * 60, 1) if self.seconds else None}


def photo_for(index: int, base: np.ndarray) -> bytes:
    pixels = base.copy()
    pixels[0, 0] = (index % 256, index // 256 % 256, 7)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def admin_sql(sql: str) -> None:
    url = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Patient:
    def __init__(self, fake: FakeTelegram, user_id: int, urls: list[str], run: Run):
        self.fake, self.user, self.urls, self.run = fake, fake.user(user_id, f"P{user_id}"), urls, run

    async def send(self, update: dict, until: str | None = None, answered: bool = True) -> list[str]:
        """Posts the update to the next replica; returns the texts the bot sent for it (answered: it must have
        sent one; a photo's verdict is pushed after its POST is answered)."""
        mark = len(self.fake.calls)
        url = self.urls[update["update_id"] % len(self.urls)]
        started = time.monotonic()
        status = await self.fake.deliver(update, url=url)
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")
        if until is not None:  # the result, which may come later when the assessment was queued
            await self.fake.wait_for(lambda: any(until in c.text for c in self.fake.sent(self.user, mark)), 600)
            self.run.result_ms.append((time.monotonic() - started) * 1000)
        else:
            self.run.text_ms.append((time.monotonic() - started) * 1000)
        texts = [c.text for c in self.fake.sent(self.user, mark)]
        if answered and not texts:
            raise RuntimeError("no answer")
        return texts

    async def press(self, key: str, until: str | None = None) -> list[str]:
        return await self.send(self.fake.press_update(self.user, t("en", key)), until)

    async def check_in(self, photo: bytes) -> None:
        await self.send(self.fake.command_update(self.user, "/start"))
        await self.press("consent.accept")
        await self.press("menu.checkin")
        await self.press("checkin.mode_face")
        mark = len(self.fake.calls)
        await self.send(self.fake.photo_update(self.user, photo), answered=False)  # the verdict is pushed
        verdict = (t("en", "checkin.face_photo_ok"), t("en", "checkin.face_photo_failed").split("{")[0])
        def answered() -> list[str]:  # the verdict, and the prompt after it
            sent = self.fake.sent(self.user, mark)
            texts = [c.text for c in sent if any(v in c.text for v in verdict)]
            return texts if texts and sent[-1].buttons else []

        texts = await self.fake.wait_for(answered, 600)
        if not any(t("en", "checkin.face_photo_ok") in x for x in texts):
            raise RuntimeError("photo refused")
        while t("en", "q.distress") not in self.fake.sent(self.user)[-1].text:
            await self.press("questions.skip")
        await self.press("questions.skip", until=t("en", "result.title"))

    def duplicates(self) -> int:
        texts = [c.text for c in self.fake.sent(self.user) if c.method in ("sendMessage", "sendPhoto")]
        prompts = [x for x in texts if x.startswith(tuple(t("en", f"q.{q}") for q in ("age", "sex", "distress")))]
        results = sum(t("en", "result.title") in x for x in texts)
        return max(results - 1, 0) + len(prompts) - len(set(prompts))


async def start_replicas(count: int, fake: FakeTelegram, database_url: str, data_dir: Path, workers: int,
                         polling: bool = False) -> tuple[list[asyncio.subprocess.Process], list[str]]:
    """`count` services (`python -m bot serve`) on one database, each with its webhook URL; with `polling` (one
    replica: Telegram serves getUpdates to one bot at a time) the service long-polls the fake Bot API instead."""
    key = new_key_text()
    processes, urls = [], []
    for index in range(count):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        env = {**os.environ, "PYTHONPATH": str(REPO), "TELEGRAM_BOT_TOKEN": fake.token,
               "TELEGRAM_API_BASE_URL": fake.url, "TELEGRAM_WEBHOOK_URL": url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
               "HOST": "127.0.0.1", "PORT": str(port), "DATABASE_URL": database_url,
               "ACNEBOT_DATA_DIR": str(data_dir / f"r{index}"), "ACNEBOT_PHOTO_KEY": key,
               "REPLICA_ID": f"replica-{index}", "ASSESSMENT_WORKERS": str(workers),
               "RATE_MESSAGES_PER_MINUTE": "600", "LOG_LEVEL": "WARNING"}
        if polling:
            del env["TELEGRAM_WEBHOOK_URL"], env["TELEGRAM_WEBHOOK_SECRET"]
        log = open(data_dir / f"replica-{index}.log", "wb")
        processes.append(await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", cwd=REPO,
                                                              env=env, stdout=log, stderr=log))
        urls.append(url)
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as http:
        for url in urls:
            health = url.replace("/telegram/webhook", "/healthz")
            while True:
                try:
                    async with http.get(health) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica at {health} did not start")
                await asyncio.sleep(0.5)
    if polling:
        await fake.wait_for(lambda: fake.called("getUpdates"), START_TIMEOUT)
    else:
        await fake.wait_for(lambda: len(fake.called("setWebhook")) >= count, START_TIMEOUT)
    return processes, urls


async def one_run(patients: int, replicas: int, concurrency: int, workers: int, limit: float,
                  base: np.ndarray) -> Run:
    run = Run(patients, replicas)
    database = f"acnebot_load_{os.getpid()}_{secrets.token_hex(3)}"
    await admin_sql(f"CREATE DATABASE {database}")
    database_url = PG_URL.rsplit("/", 1)[0] + "/" + database
    fake = FakeTelegram()
    await fake.start()
    processes: list[asyncio.subprocess.Process] = []
    try:
        with tempfile.TemporaryDirectory(prefix="acnebot-load-") as folder:
            processes, urls = await start_replicas(replicas, fake, database_url, Path(folder), workers)
            slots = asyncio.Semaphore(concurrency)
            people = [Patient(fake, 100_000 + i, urls, run) for i in range(patients)]
            photos = [photo_for(i, base) for i in range(patients)]

            async def one(i: int) -> None:
                async with slots:
                    try:
                        await people[i].check_in(photos[i])
                        run.completed += 1
                    except Exception as error:  # counted as lost; the run goes on
                        run.lost += 1
                        print(f"patient {i}: {type(error).__name__}: {error}", file=sys.stderr)

            started = time.monotonic()
            try:
                await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(patients))), limit)
            except TimeoutError:
                run.lost = patients - run.completed
            run.seconds = time.monotonic() - started
            run.duplicated = sum(p.duplicates() for p in people)
            run.peak_rss_mb = [peak_rss_mb(p.pid) for p in processes]
            for process in processes:
                process.terminate()
            for process in processes:
                await process.wait()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
        await fake.stop()
        await admin_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=50, help="patients in a check-in at once")
    parser.add_argument("--workers", type=int, default=1, help="ASSESSMENT_WORKERS per replica")
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds per run at most")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    base = np.asarray(Image.open(VALID_IMAGES / FRONTAL).convert("RGB"))
    results = []
    for replicas in args.replicas:
        run = await one_run(args.patients, replicas, args.concurrency, args.workers, args.limit, base)
        results.append(run.summary())
        print(json.dumps(run.summary()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
