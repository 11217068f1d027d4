"""Handovers on both databases: one active per patient, two staff members taking at once (one wins, even from
two Database objects, as two replicas), closing, the console's queue with the latest check-in, the audit log,
and erasure taking the patient's handovers with them."""
from __future__ import annotations

import asyncio

import pytest

from pipeline.result import AssessmentResult

pytestmark = pytest.mark.asyncio


async def patient(db, platform_id: str = "p1"):
    user = await db.users.get_or_create_user("telegram", platform_id, "en")
    await db.users.set_consent(user.id, "accepted")
    return user


async def test_two_staff_take_at_once_one_wins(open_db):
    first, second = await open_db(), await open_db()  # two replicas on one database
    alice = await patient(first)
    ann = await first.staff.create_staff("ann", "hash")
    bob = await first.staff.create_staff("bob", "hash")
    handover = await first.handovers.open_handover(alice.id)
    assert (await first.handovers.open_handover(alice.id)).id == handover.id  # one active per patient

    results = await asyncio.gather(first.handovers.take(handover.id, ann.id),
                                   second.handovers.take(handover.id, bob.id))
    assert sorted(results) == [False, True]
    winner = ann.id if results[0] else bob.id
    taken = await second.handovers.get_handover(handover.id)
    assert taken.status == "taken" and taken.taken_by == winner and taken.taken_at is not None
    assert not await first.handovers.take(handover.id, winner)  # taking again: already taken

    closed = await first.handovers.close(handover.id, winner)
    assert closed.status == "closed" and closed.closed_by == winner and closed.closed_at >= taken.taken_at
    assert await second.handovers.close(handover.id, winner) is None  # closed once
    assert await first.handovers.active_handover(alice.id) is None
    audit = [(e.action, e.staff_id, e.subject_user_id, e.detail) for e in reversed(await first.audit.list_audit())]
    assert audit == [("handover.take", winner, alice.id, {"handover": handover.id, "by": "staff"}),
                     ("handover.close", winner, alice.id, {"handover": handover.id, "by": "staff"})]


async def test_queue_lists_active_handovers_with_latest_checkin(db, result_json):
    alice, bob, carol = [await patient(db, p) for p in ("a", "b", "c")]
    await db.assessments.save_assessment(alice.id, AssessmentResult.from_json(result_json(score=10)))
    await db.assessments.save_assessment(alice.id, AssessmentResult.from_json(result_json(score=33, grade="mild")))
    opened = [await db.handovers.open_handover(u.id) for u in (alice, bob, carol)]
    staff = await db.staff.create_staff("ann", "hash")
    assert await db.handovers.take(opened[1].id, staff.id)
    await db.handovers.close(opened[2].id)  # carol went back to the bot

    queue = await db.handovers.list_active()
    assert [(q.user.id, q.handover.status) for q in queue] == [(alice.id, "open"), (bob.id, "taken")]
    assert queue[0].last_assessment.score == 33 and queue[1].last_assessment is None
    (patient_close,) = [e for e in await db.audit.list_audit() if e.action == "handover.close"]
    assert patient_close.staff_id is None and patient_close.detail == {"handover": opened[2].id, "by": "patient"}


async def test_erasure_deletes_handovers(db):
    alice = await patient(db)
    await db.handovers.open_handover(alice.id)
    assert (await db.erasure.count_rows_for_user(alice.id))["handovers"] == 1
    counts = await db.erasure.delete_user_data(alice.id)
    assert counts["handovers"] == 1
    assert await db.handovers.list_active() == []
