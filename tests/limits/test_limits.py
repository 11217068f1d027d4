"""Limits: per-patient rate limits (token buckets in the database, shared by replicas) and the bounded assessment
queue ("busy, you are number N", the work kept in the stored state and its result sent when a worker is free),
through the real Telegram transport against the fake Bot API, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.service.wiring import RECOVERY
from conversations.i18n import t
from storage import Database
from storage.columns import utcnow
from tests.pg_support import PG_URL
from tests.worker_support import wait_for_file

pytestmark = pytest.mark.asyncio


async def consented(patient) -> None:
    await patient.command("/start")
    await patient.press("consent.accept")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_patient_over_the_message_limit_is_told_once_and_then_ignored(backend, start_service, make_patient):
    service = await start_service(rate_messages_per_minute=3)
    patient = make_patient(service)
    await consented(patient)  # nothing is counted (or stored) before consent
    for text in ("hello", "hello?", "anyone?"):
        await patient.text(text)
        assert t("en", "unexpected.text") in patient.texts
    await patient.text("HELLO")
    assert patient.texts == t("en", "rate.message", n=3)
    await patient.text("HELLO!!")
    assert patient.replies == []  # told once; the flood gets silence, not a reply each


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_second_check_in_on_the_same_day_is_refused_over_the_limit(backend, start_service, make_patient):
    service = await start_service(rate_checkins_per_day=1)
    patient = make_patient(service)
    await consented(patient)
    await patient.press("menu.checkin")
    assert patient.t("checkin.mode") in patient.texts
    await patient.command("/checkin")
    assert patient.t("rate.checkin", n=1) in patient.texts and patient.t("menu.title") in patient.texts
    assert patient.t("checkin.mode") not in patient.texts


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_buckets_refill_with_time_and_two_replicas_share_them(backend, db: Database, tmp_path: Path,
                                                                    telegram_pg_schema):
    user = await db.users.get_or_create_user("telegram", "77", "en")
    start = utcnow()
    other = db
    if backend == "postgresql":  # a second replica: its own engine and connection pool on the same schema
        other = await Database.open(PG_URL, schema=telegram_pg_schema, data_dir=tmp_path, run_migrations=False)
    try:
        taken = await asyncio.gather(*[(db if i % 2 else other).limits.take(user.id, "message", 5,
                                                                            timedelta(minutes=1), start)
                                       for i in range(8)])
    finally:
        if other is not db:
            await other.close()
    assert sum(x.allowed for x in taken) == 5 and sum(x.first_refusal for x in taken) == 1
    later = await db.limits.take(user.id, "message", 5, timedelta(minutes=1), start + timedelta(seconds=13))
    assert later.allowed  # 12 s refill one token of 5 a minute


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_full_assessment_queue_keeps_the_work_and_sends_the_result_later(
        backend, start_service, make_patient, pool, face_photo, shipped_model, fake, tmp_path):
    service = await start_service(recovery_interval=3600)
    patient = make_patient(service)
    await consented(patient)
    await patient.to_the_last_question(face_photo)

    gate = tmp_path / "go"
    blocker = asyncio.ensure_future(pool.run(wait_for_file, str(gate)))  # the only worker, busy elsewhere
    saved_queue, pool.queue = pool.queue, 0
    try:
        while not pool.busy:
            await asyncio.sleep(0)
        await patient.press("questions.skip")
        assert patient.t("busy.queued", n=1) in patient.texts
        assert patient.t("result.title") not in patient.texts
        mark = len(fake.calls)
        gate.touch()
        await blocker
        # The worker freed up from other work, not from a job the re-offer loop claimed: the loop hears of it all
        # the same and claims the row now rather than at its next round (an hour away here).
        await fake.wait_for(lambda: any(patient.t("result.title") in c.text for c in fake.sent(patient.user, mark)),
                            120)
        assert await service.app[RECOVERY].reoffer() == 0  # claimed once
    finally:
        gate.touch()
        pool.queue = saved_queue
    result = [c.text for c in fake.sent(patient.user, mark)]
    assert sum(patient.t("result.title") in text for text in result) == 1
    assert fake.sent(patient.user, mark)[-1].buttons  # the menu again
    await patient.press("menu.history")  # the patient carries on
    assert patient.t("history.title", n=1).split("(")[0] in patient.texts
