"""Reminders: claim_due hands each due reminder to exactly one of several concurrent dispatchers."""
from __future__ import annotations

import asyncio
from datetime import time, timedelta

import pytest

from storage.columns import utcnow

pytestmark = pytest.mark.asyncio


async def make_users_with_reminders(db, n: int, due) -> list[int]:
    async with db.transaction():
        ids = []
        for i in range(n):
            user = await db.users.get_or_create_user("telegram", f"r{i}", "en")
            await db.reminders.set_reminder(user.id, "weekly", time(9, 0), due)
            ids.append(user.id)
    return ids


async def test_three_dispatchers_claim_each_due_reminder_once(db, open_db):
    now = utcnow()
    await make_users_with_reminders(db, 200, now - timedelta(minutes=1))
    replicas = [db, await open_db(), await open_db()]
    claimed: list[list[int]] = [[], [], []]

    async def dispatcher(index: int) -> None:
        while batch := await replicas[index].reminders.claim_due(now, limit=7):
            claimed[index] += [r.id for r in batch]
            assert all(r.state == "claimed" and r.attempts == 1 for r in batch)
            await asyncio.sleep(0)  # let the others in between batches

    await asyncio.gather(*(dispatcher(i) for i in range(3)))
    everything = [rid for part in claimed for rid in part]
    assert len(everything) == 200
    assert len(set(everything)) == 200
    assert await db.reminders.claim_due(now) == []


async def test_claim_lifecycle(db):
    now = utcnow()
    due, later, stopped = await make_users_with_reminders(db, 3, now)
    await db.reminders.set_reminder(later, "monthly", time(20, 0), now + timedelta(hours=1))
    assert await db.reminders.stop_reminder(stopped) is True
    assert await db.reminders.stop_reminder(424242) is False

    [claim] = await db.reminders.claim_due(now, lease=timedelta(minutes=5))
    assert claim.user_id == due and claim.claimed_until == now + timedelta(minutes=5)
    assert await db.reminders.claim_due(now + timedelta(minutes=4)) == []  # lease still held
    [again] = await db.reminders.claim_due(now + timedelta(minutes=5))  # its dispatcher died: reclaimed
    assert again.id == claim.id and again.attempts == 2

    await db.reminders.mark_failed(claim.id, "Telegram 502", retry_at=now + timedelta(minutes=10))
    failed = await db.reminders.get_reminder(due)
    assert (failed.state, failed.attempts, failed.last_error, failed.claimed_until) == (
        "active", 2, "Telegram 502", None)
    [retry] = await db.reminders.claim_due(now + timedelta(minutes=10))
    assert retry.attempts == 3
    await db.reminders.mark_sent(retry.id, next_due_at=now + timedelta(days=7))
    sent = await db.reminders.get_reminder(due)
    assert (sent.state, sent.attempts, sent.last_error, sent.next_due_at) == (
        "active", 0, None, now + timedelta(days=7))

    [late] = await db.reminders.claim_due(now + timedelta(hours=1))
    assert late.user_id == later and late.cadence == "monthly" and late.time_of_day == time(20, 0)
    await db.reminders.give_up(late.id, "403 Forbidden: bot was blocked by the user")
    assert (await db.reminders.get_reminder(later)).state == "failed"
    # stopped and failed schedules are never claimed
    assert [r.user_id for r in await db.reminders.claim_due(now + timedelta(days=30))] == [due]
    assert (await db.reminders.get_reminder(stopped)).state == "stopped"
