"""kill -9 of the service in the middle of work, then a restart with the same REPLICA_ID: the patient gets the
result (an assessment runs again from the stored photos and answers) or a clear "please send it again" (a photo
check: unchecked photos are never stored), and nothing already answered is sent twice or lost.

The service runs as `python -m bot serve` in a subprocess, long polling the fake Bot API on SQLite."""
from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest
import pytest_asyncio

from conversations.i18n import t
from storage.crypto import new_key_text
from tests.faults.chat import ScriptedChat, descendants, gone, kill, pause, resume, start_service
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def service_env(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.url,
            "ACNEBOT_DATA_DIR": str(tmp_path), "ACNEBOT_PHOTO_KEY": new_key_text(), "REPLICA_ID": "replica-a",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'acnebot.db'}", "ASSESSMENT_WORKERS": "1"}


def count(texts: list[str], key: str) -> int:
    return sum(t("en", key).split("{")[0] in text for text in texts)


async def work_recorded(db_path: Path, job: str, timeout: float = 30) -> bool:
    """Whether the work table came to hold a row of this job (what a restart recovers from)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db_path, timeout=1) as db:
                if db.execute("SELECT count(*) FROM work WHERE job = ?", (job,)).fetchone()[0]:
                    return True
        except sqlite3.OperationalError:  # the service is writing or has not made the table yet
            pass
        await asyncio.sleep(0.02)
    return False


async def stopped_while_analysing(fake, env, tmp_path, face_photo, user_id: int, sig: int) -> ScriptedChat:
    """A patient's check-in up to "Analysing…", and the service stopped with `sig` right then."""
    service = await start_service(env, tmp_path / "service.log")
    chat = ScriptedChat(fake, fake.user(user_id, f"P{user_id}"))
    try:
        await chat.to_last_question(face_photo)
        workers = descendants(service.pid)
        assert workers, "the service runs its pipeline in worker processes"
        pause(workers)  # the assessment waits in its worker, so the signal comes first however fast it is
        await chat.press("questions.skip", until=t("en", "result.analysing"))
        assert count(chat.texts(), "result.title") == 0, "the assessment finished first; nothing was tested"
        service.send_signal(sig)
        resume(workers)  # SIGTERM: the service waits for the assessment; SIGKILL: the workers die with it
        assert await service.wait() == (-9 if sig == signal.SIGKILL else 0)
        assert not await gone(workers), "worker processes outlived the service"
    finally:
        resume(descendants(service.pid))
        await kill(service)
    return chat


async def test_killed_during_an_assessment_the_result_comes_after_the_restart(fake, tmp_path, face_photo,
                                                                             shipped_model):
    env = service_env(fake, tmp_path)
    chat = await stopped_while_analysing(fake, env, tmp_path, face_photo, 5150, signal.SIGKILL)
    before = chat.texts()

    service = await start_service(env, tmp_path / "service.log")
    try:
        await fake.wait_for(lambda: count(chat.texts(), "result.title"), 120)
        await chat.press("menu.history")  # the service goes on answering after the restart
    finally:
        await kill(service)
    after = chat.texts()
    assert after[:len(before)] == before
    assert count(after, "result.title") == 1 and count(after, "q.distress") == count(before, "q.distress") == 1
    with sqlite3.connect(tmp_path / "acnebot.db") as db:
        assert db.execute("SELECT count(*) FROM assessments").fetchone() == (1,)
        (data,) = db.execute("SELECT data FROM conversation_states").fetchone()
    assert '"work"' not in data  # the marker was resolved


async def test_killed_during_a_photo_check_the_patient_is_asked_to_send_it_again(fake, tmp_path, face_photo,
                                                                                shipped_model):
    env = service_env(fake, tmp_path)
    service = await start_service(env, tmp_path / "service.log")
    chat = ScriptedChat(fake, fake.user(5151, "Lee"))
    try:
        await chat.command("/start")
        await chat.press("consent.accept")
        await chat.press("menu.checkin")
        await chat.press("checkin.mode_face")
        workers = descendants(service.pid)
        pause(workers)  # the photo check waits in its worker until the kill, however fast it is
        await fake.deliver(fake.photo_update(chat.user, face_photo))
        await fake.wait_for(lambda: fake.called("getFile") and fake.downloads)  # the photo came in
        # Killed between the download and the state that records the check, the update is simply delivered again.
        assert await work_recorded(tmp_path / "acnebot.db", "check_photo"), "the photo check was never recorded"
        assert await kill(service) == -9
        resume(workers)
        assert not await gone(workers), "worker processes outlived the service"
    finally:
        await kill(service)
    assert count(chat.texts(), "checkin.face_photo_ok") == 0, "the check finished before the kill"

    service = await start_service(env, tmp_path / "service.log")
    try:
        await fake.wait_for(lambda: count(chat.texts(), "interrupted.photo"), 120)
        await chat.send(fake.photo_update(chat.user, face_photo), until=t("en", "q.age"))
    finally:
        await kill(service)
    texts = chat.texts()
    assert count(texts, "interrupted.photo") == 1 and count(texts, "checkin.face_photo_ok") == 1


async def test_sigterm_during_an_assessment_finishes_it_before_exiting(fake, tmp_path, face_photo, shipped_model):
    env = service_env(fake, tmp_path)
    chat = await stopped_while_analysing(fake, env, tmp_path, face_photo, 5152, signal.SIGTERM)  # exit 0: graceful
    assert count(chat.texts(), "result.title") == 1  # sent before the process left
    with sqlite3.connect(tmp_path / "acnebot.db") as db:
        (data,) = db.execute("SELECT data FROM conversation_states").fetchone()
    assert '"work"' not in data  # nothing left for the next start to resend
