"""Retention (bot/service/housekeeping.py) on a patient's real data, with a fake clock: photos past
PHOTO_RETENTION_DAYS go, the assessment's numbers and the message log stay (the photo link unset), the history
still works; old processed-message marks and expired cache rows go too; several replicas sweeping at once
delete each row once."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sqlalchemy import update

from bot.service.housekeeping import PROCESSED_MARK_DAYS, Housekeeping
from conversation_support import Patient
from pipeline.result import AssessmentResult
from storage.columns import utcnow
from storage.models import Photo
from test_conversation_journeys import consented, stored_result

pytestmark = pytest.mark.asyncio


async def test_old_photos_go_the_numbers_and_the_log_stay(engine, db, face_photo, second_face_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)  # checked and stored by the real flow, logged with its photo link
    user = await db.users.find_user(patient.channel, patient.user_id)
    (old_photo,) = await db.photos.list_photos(user.id)
    await db.assessments.save_assessment(user.id, AssessmentResult.from_json(stored_result(30, 5)), [old_photo.id])
    await db.cache.set("wechat:token", "t", expires_at=utcnow() + timedelta(hours=2))
    await db.cache.set("kept", "forever")

    async with db.engine.begin() as connection:  # the first check-in was half a year ago
        await connection.execute(update(Photo).where(Photo.id == old_photo.id)
                                 .values(created_at=utcnow() - timedelta(days=181)))
    new_photo = await db.photos.save_photo(user.id, second_face_photo)
    await db.assessments.save_assessment(user.id, AssessmentResult.from_json(stored_result(12, 2)), [new_photo])
    later = utcnow() + timedelta(days=PROCESSED_MARK_DAYS + 1)
    replicas = [Housekeeping(db, photo_retention_days=180, clock=lambda: later) for _ in range(3)]
    results = await asyncio.gather(*(r.sweep() for r in replicas))
    assert sum(r["photos"] for r in results) == 1  # one replica deleted it, the others found nothing
    assert sum(r["cache"] for r in results) == 1
    assert sum(r["processed_messages"] for r in results) >= 4  # start, consent, checkin, face, photo

    assert [p.id for p in await db.photos.list_photos(user.id)] == [new_photo]
    first, second = await db.assessments.list_assessments(user.id)
    assert (first.score, first.grade, first.counts["forehead"]["papule"]) == (30, "mild", 5)
    logged = [m for m in await db.messages.list_messages(user.id, limit=100) if m.kind == "photo"]
    assert len(logged) == 1 and logged[0].photo_id is None
    assert await db.cache.get("kept", now=later) == "forever"

    await patient.command("history")
    assert "Your check-ins (2):" in patient.texts and "score 30" in patient.texts
    await patient.tap("compare")
    options = [d.split(":", 1)[1] for d, _ in patient.choices.options[:2]]
    for option in options:
        await patient.tap(option)
    assert "score 30 → 12 (-18)" in patient.texts  # the numbers compare without the deleted photo


async def test_fresh_photos_and_recent_marks_are_kept(engine, db, face_photo):
    patient: Patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    now = utcnow() + timedelta(days=PROCESSED_MARK_DAYS - 1)
    swept = await Housekeeping(db, photo_retention_days=180, clock=lambda: now).sweep()
    assert swept == {"photos": 0, "processed_messages": 0, "cache": 0}
    redelivered = patient.event("photo", photo=face_photo, message_id="same-id")
    await patient.send(redelivered)
    assert await engine.handle(redelivered) == []  # the mark is still there
