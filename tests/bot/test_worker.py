"""`acnebot worker` as an operator runs it: separate processes on the same PostgreSQL database take the assessments
that wait there (the chat replica's workers were busy), and send each result once through Telegram (the fake Bot
API), even when the worker that claimed a job is killed under it (kill -9 of its whole process group)."""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web

from bot.service.app import DATABASE, TELEGRAM, create_app
from bot.settings import Settings
from work.pool import WorkerPool
from tests.bot.conftest import Patient, Service
from tests.conftest import REPO
from tests.pg_support import PG_URL
from tests.service_process import free_port
from tests.worker_support import wait_for_file

pytestmark = pytest.mark.asyncio
LEASE = 4  # seconds before a killed worker's job is anybody's (RECOVERY_LEASE)


@pytest_asyncio.fixture
async def database_url():
    """A database of this test's own: the worker processes reach it by DATABASE_URL alone."""
    name = f"acnebot_worker_{os.getpid()}_{secrets.token_hex(3)}"
    server = PG_URL.replace("+asyncpg", "")
    try:  # CREATE DATABASE runs outside a transaction: plain asyncpg, not SQLAlchemy
        connection = await asyncpg.connect(server, timeout=5)
    except Exception as error:
        pytest.skip(f"PostgreSQL unavailable: {type(error).__name__}")
    try:
        await connection.execute(f"CREATE DATABASE {name}")
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
        await connection.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await connection.close()


def start_worker(env: dict[str, str], replica: str, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot", "worker", "--port", str(port)], cwd=REPO,
                                   env={**env, "REPLICA_ID": replica}, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group: killed with its workers
    return process, port


async def rows(db):
    """The work table's rows in progress."""
    return await db.work.pending()


async def test_workers_take_queued_assessments_and_a_killed_worker_s_job_is_sent_once(
        database_url, fake, tmp_path, face_photo, shipped_model):
    settings = dict(telegram_bot_token=fake.token, telegram_api_base_url=fake.url,
                    telegram_file_base_url=f"{fake.url}/file/bot", ACNEBOT_DATA_DIR=tmp_path,
                    database_url=database_url, recovery_interval=3600)
    pool = WorkerPool(workers=1, queue=0)  # every assessment that finds the chat replica's worker busy waits
    app = await create_app(Settings(**settings), pool=pool)
    runner = web.AppRunner(app, access_log=None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    service = Service(app, runner, f"http://127.0.0.1:{sock.getsockname()[1]}", fake)
    app[TELEGRAM].processor.on_done.append(service._done)
    patient = Patient(service, fake.user(4343, "Wen", "en"))
    env = {**os.environ, "DATABASE_URL": database_url, "ACNEBOT_DATA_DIR": str(tmp_path), "HOST": "127.0.0.1",
           "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.url, "ASSESSMENT_WORKERS": "1",
           "TELEGRAM_FILE_BASE_URL": f"{fake.url}/file/bot", "RECOVERY_INTERVAL": "0.2",
           "RECOVERY_LEASE": str(LEASE), "LOG_FORMAT": "text"}
    log = tmp_path / "workers.log"
    gate = tmp_path / "go"
    processes: list[subprocess.Popen] = []
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        await patient.command("/start")
        await patient.press("consent.accept")
        await patient.to_the_last_question(face_photo)
        blocker = asyncio.ensure_future(pool.run(wait_for_file, str(gate)))  # the replica's worker is busy
        while not pool.busy:
            await asyncio.sleep(0.01)
        await patient.press("questions.skip")
        assert patient.t("busy.queued", n=1) in patient.texts
        mark = len(fake.calls)

        first, _ = start_worker(env, "worker-1", log)
        processes.append(first)
        db = app[DATABASE]
        async with asyncio.timeout(90):  # it starts, claims the job, and is killed under it
            while not [row for row in await rows(db) if row.owner == "worker-1" and row.status == "running"]:
                assert first.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert patient.t("result.title") not in " ".join(c.text for c in fake.sent(patient.user, mark))

        second, port = start_worker(env, "worker-2", log)
        processes.append(second)
        results = lambda: [c for c in fake.sent(patient.user, mark) if patient.t("result.title") in c.text]
        await fake.wait_for(results, timeout=120)
        await asyncio.sleep(2 * LEASE)  # nobody sends it again
        assert len(results()) == 1, log.read_text()
        assert not await rows(db)
        assert fake.sent(patient.user, mark)[-1].buttons  # the menu again
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                assert answer.status == 200 and (await answer.json())["database"] == "ok"
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 60) == 0, log.read_text()
    finally:
        gate.touch()
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        await runner.cleanup()
        pool.close()
