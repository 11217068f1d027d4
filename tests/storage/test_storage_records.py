"""Profiles, assessments, the message log, the shared cache, staff accounts and the audit log."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.result import AssessmentResult
from storage import NotFound
from storage.columns import utcnow

pytestmark = pytest.mark.asyncio


async def test_profile_round_trip(db):
    user = await db.users.get_or_create_user("telegram", "1", "en")
    assert await db.profiles.load_profile(user.id) is None
    await db.profiles.save_profile(user.id, {"age": 19, "sex": "female", "allergies": ["sulfa"]})
    await db.profiles.save_profile(user.id, {"age": 20, "sex": "female", "allergies": []})
    profile = await db.profiles.load_profile(user.id)
    assert profile.answers == {"age": 20, "sex": "female", "allergies": []}


async def test_assessments_saved_listed_and_owned(db, result_json):
    alice = await db.users.get_or_create_user("telegram", "a", "en")
    bob = await db.users.get_or_create_user("telegram", "b", "en")
    photo = await db.photos.save_photo(alice.id, b"photo bytes")
    t0 = utcnow() - timedelta(days=14)
    stored = [AssessmentResult.from_json(result_json(score=30, papules=5)),
              AssessmentResult.from_json(result_json(score=12, refer=True))]
    first = await db.assessments.save_assessment(alice.id, stored[0], [photo], created_at=t0)
    second = await db.assessments.save_assessment(alice.id, stored[1], [photo])
    assert (first.score, first.grade, first.grade_personalised, first.referral) == (30, "mild", "moderate", False)
    assert first.counts["forehead"]["papule"] == 5 and first.counts["chin"] is None
    assert first.model_version == "acne-regnet-student@3" and first.photo_ids == (photo,)
    assert second.referral is True
    history = await db.assessments.list_assessments(alice.id)
    assert [a.id for a in history] == [first.id, second.id]
    assert history[0].created_at == t0
    assert AssessmentResult.from_json(history[1].result) == stored[1]
    assert [a.id for a in await db.assessments.list_assessments(alice.id, limit=1)] == [second.id]
    assert (await db.assessments.latest_assessment(alice.id)).id == second.id
    assert (await db.assessments.get_assessment(first.id)).counts == first.counts
    with pytest.raises(NotFound):
        await db.assessments.get_assessment(first.id, user_id=bob.id)
    assert await db.assessments.list_assessments(bob.id) == []
    with pytest.raises(ValueError, match="quality"):
        await db.assessments.save_assessment(alice.id, AssessmentResult.from_json(
            {"quality": {"ok": False, "reasons": []}, "model": {}}))


async def test_message_log_refers_to_photos(db):
    user = await db.users.get_or_create_user("telegram", "1", "en")
    photo = await db.photos.save_photo(user.id, b"jpeg")
    await db.messages.log_message(user.id, "in", "command", "/start")
    await db.messages.log_message(user.id, "in", "photo", photo_id=photo)
    await db.messages.log_message(user.id, "out", "text", "Thanks, analysing")
    log = await db.messages.list_messages(user.id)
    assert [(m.direction, m.kind, m.text, m.photo_id) for m in log] == [
        ("in", "command", "/start", None), ("in", "photo", None, photo), ("out", "text", "Thanks, analysing", None)]
    assert [m.kind for m in await db.messages.list_messages(user.id, limit=2)] == ["photo", "text"]
    with pytest.raises(ValueError):
        await db.messages.log_message(user.id, "sideways", "text")


async def test_shared_cache_with_expiry(db):
    now = utcnow()
    assert await db.cache.get("wechat:token") is None
    await db.cache.set("wechat:token", "t1", expires_at=now + timedelta(seconds=7200))
    assert await db.cache.get("wechat:token") == "t1"
    assert await db.cache.get("wechat:token", now=now + timedelta(seconds=7201)) is None
    # add: one replica wins the refresh lock; it can be taken again once expired
    assert await db.cache.add("lock", "replica-1", expires_at=now + timedelta(seconds=30), now=now) is True
    assert await db.cache.add("lock", "replica-2", expires_at=now + timedelta(seconds=30), now=now) is False
    assert await db.cache.add("lock", "replica-2", expires_at=now + timedelta(seconds=90),
                              now=now + timedelta(seconds=31)) is True
    assert await db.cache.get("lock", now=now + timedelta(seconds=31)) == "replica-2"
    await db.cache.set("forever", "x")
    assert await db.cache.purge_expired(now + timedelta(days=1)) == 2
    assert await db.cache.get("forever") == "x"
    await db.cache.delete("forever")
    assert await db.cache.get("forever") is None


async def test_staff_and_audit(db):
    staff = await db.staff.create_staff("dr.li", "$argon2id$...", role="clinician")
    assert await db.staff.get_staff("dr.li") == staff
    assert await db.staff.get_staff("nobody") is None
    assert [s.username for s in await db.staff.list_staff()] == ["dr.li"]
    user = await db.users.get_or_create_user("telegram", "1", "en")
    await db.audit.record("view_patient", staff_id=staff.id, subject_user_id=user.id)
    await db.audit.record("export", staff_id=staff.id, detail={"rows": 3})
    entries = await db.audit.list_audit()
    assert [(e.action, e.subject_user_id, e.detail) for e in entries] == [
        ("export", None, {"rows": 3}), ("view_patient", user.id, None)]
