"""delete_user_data leaves nothing of the patient in any table and nothing of anyone else is touched."""
from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from pipeline.result import AssessmentResult
from storage import NotFound
from storage.columns import utcnow
from storage.models import Base

pytestmark = pytest.mark.asyncio


async def populate(db, platform_id: str, result_json) -> int:
    user = await db.users.get_or_create_user("telegram", platform_id, "en")
    await db.users.set_consent(user.id, "accepted")
    await db.profiles.save_profile(user.id, {"age": 22, "sex": "male"})
    state = await db.states.load_state(user.id)
    await db.states.save_state(replace(state, flow="checkin", step="questions", data={"q": 1}))
    await db.dedup.mark_processed("telegram", f"{platform_id}-m1", user.id)
    photo = await db.photos.save_photo(user.id, f"photo of {platform_id}".encode(), "chin")
    await db.messages.log_message(user.id, "in", "photo", photo_id=photo)
    await db.messages.log_message(user.id, "out", "text", "Your grade: mild")
    await db.assessments.save_assessment(user.id, AssessmentResult.from_json(result_json()), [photo])
    await db.reminders.set_reminder(user.id, "weekly", time(9, 30), utcnow() + timedelta(days=7))
    staff = await db.staff.get_staff("dr.li") or await db.staff.create_staff("dr.li", "hash")
    await db.audit.record("view_patient", staff_id=staff.id, subject_user_id=user.id)
    await db.handovers.open_handover(user.id)
    await db.contacts.record_inbound(user.id)
    await db.limits.take(user.id, "message", 30, timedelta(minutes=1))
    await db.work.add(user.id, f"{platform_id}-m2", "assess", {"photos": [[photo, None]]}, "assessed", owner=None,
                      lease=timedelta(minutes=10))  # an assessment waiting for a worker goes with the patient
    return user.id


async def test_delete_user_data_leaves_nothing(db, result_json):
    alice = await populate(db, "alice", result_json)
    bob = await populate(db, "bob", result_json)
    bob_before = await db.erasure.count_rows_for_user(bob)
    before = await db.erasure.count_rows_for_user(alice)
    user_tables = set(before)
    assert {"users", "profiles", "conversation_states", "processed_messages", "photos", "message_log",
            "assessments", "reminders", "audit_log", "work"} <= user_tables
    assert all(n >= 1 for n in before.values()), before  # the fixture really filled every table

    deleted = await db.erasure.delete_user_data(alice)
    assert deleted["users"] == 1 and deleted["photos"] == 1 and deleted["message_log"] == 2
    assert deleted["audit_log_unlinked"] == 1
    assert set((await db.erasure.count_rows_for_user(alice)).values()) == {0}
    assert await db.erasure.count_rows_for_user(bob) == bob_before
    with pytest.raises(NotFound):
        await db.users.get_user(alice)
    assert await db.users.find_user("telegram", "alice") is None
    assert len(await db.assessments.list_assessments(bob)) == 1
    assert (await db.states.load_state(bob, for_update=False)).step == "questions"
    bob_photo = (await db.photos.list_photos(bob))[0].id
    assert await db.photos.load_photo(bob_photo) == b"photo of bob"
    audit = await db.audit.list_audit()
    assert sorted((e.action, e.subject_user_id or 0) for e in audit) == [("view_patient", 0), ("view_patient", bob)]
    assert await db.dedup.mark_processed("telegram", "alice-m1") is True  # its dedup entry went too


async def test_every_user_table_is_covered_by_count_rows(db):
    """A table that references users.id is counted (and so erased) without further code."""
    user = await db.users.get_or_create_user("telegram", "x", "en")
    counted = set(await db.erasure.count_rows_for_user(user.id))
    referencing = {t.name for t in Base.metadata.sorted_tables
                   if any(fk.column.table.name == "users" for fk in t.foreign_keys)} | {"users"}
    assert counted == referencing
    # and the only tables left out hold no patient data
    staff_only = {"staff_accounts", "kv_cache", "staff_sessions", "login_throttle"}
    assert {t.name for t in Base.metadata.sorted_tables} - counted == staff_only
    async with db.engine.connect() as connection:
        for name in staff_only:
            table = Base.metadata.tables[name]
            assert "user_id" not in table.c
            await connection.execute(select(func.count()).select_from(table))
