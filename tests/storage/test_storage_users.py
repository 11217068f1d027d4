"""Users and deduplication of inbound messages, including under concurrency."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from storage import NotFound
from storage.columns import utcnow

pytestmark = pytest.mark.asyncio


async def test_get_or_create_user_is_idempotent_and_concurrent_safe(db):
    users = await asyncio.gather(*(db.users.get_or_create_user("telegram", "1001", "zh-hans") for _ in range(10)))
    assert len({u.id for u in users}) == 1
    user = users[0]
    assert (user.locale, user.consent, user.consent_at) == ("zh-hans", "pending", None)
    assert (await db.users.get_or_create_user("telegram", "1001", "en")).locale == "zh-hans"  # hint only once
    other = await db.users.get_or_create_user("wechat", "1001", None)  # same id on another channel
    assert other.id != user.id
    assert await db.users.find_user("telegram", "1001") == user
    assert await db.users.find_user("telegram", "nobody") is None


async def test_consent_locale_timezone(db):
    user = await db.users.get_or_create_user("web", "s1", "en")
    await db.users.set_consent(user.id, "accepted")
    await db.users.set_locale(user.id, "zh-hans")
    await db.users.set_timezone(user.id, "Asia/Shanghai")
    again = await db.users.get_user(user.id)
    assert (again.consent, again.locale, again.timezone) == ("accepted", "zh-hans", "Asia/Shanghai")
    assert again.consent_at is not None and again.consent_at.tzinfo is not None
    assert abs(again.consent_at - utcnow()) < timedelta(minutes=1)
    with pytest.raises(NotFound):
        await db.users.set_locale(999_999, "en")


async def test_mark_processed_exactly_once_under_concurrency(db):
    user = await db.users.get_or_create_user("telegram", "7", "en")
    results = await asyncio.gather(*(db.dedup.mark_processed("telegram", "update-1", user.id) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    assert await db.dedup.mark_processed("wechat", "update-1") is True  # ids are per channel


async def test_mark_processed_is_undone_with_a_failed_transaction(db):
    with pytest.raises(RuntimeError):
        async with db.transaction():
            assert await db.dedup.mark_processed("telegram", "u-9") is True
            raise RuntimeError("handler crashed")
    assert await db.dedup.mark_processed("telegram", "u-9") is True  # the redelivery is handled


async def test_prune_processed(db):
    await db.dedup.mark_processed("telegram", "old")
    assert await db.dedup.prune_processed(utcnow() - timedelta(days=1)) == 0
    assert await db.dedup.prune_processed(utcnow() + timedelta(seconds=1)) == 1
    assert await db.dedup.mark_processed("telegram", "old") is True
