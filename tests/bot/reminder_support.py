"""Helpers for the reminder tests and bench/bench_reminders.py: a fake clock, patients with due reminders in bulk,
and the Telegram transport as a Courier against the fake Bot API server."""
from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from bot.settings import Settings
from bot.telegram.transport import TelegramTransport
from conversations import Engine
from storage import Database, models
from tests.fakes.telegram_api import ApiError, FakeTelegram


class FakeClock:
    """now() for the dispatcher; the test moves it."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def at(text: str) -> datetime:
    """"2026-03-24 18:00" as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def seed_reminders(db: Database, n: int, due: datetime, *, first_id: int = 10_000, channel: str = "telegram",
                         zone: str | None = None, time_of_day: time = time(19, 0), cadence: str = "weekly",
                         consent: str = "accepted", fake: FakeTelegram | None = None) -> list[int]:
    """n consented patients, each with a reminder due at `due` (inserted in bulk: 1,000 take a moment, not
    seconds); their chats are known to `fake`. Returns the users' ids in platform id order."""
    now = datetime.now(UTC)
    platform_ids = [str(first_id + i) for i in range(n)]
    async with db.engine.begin() as connection:
        await connection.execute(insert(models.User), [
            {"channel": channel, "platform_user_id": p, "locale": "en", "timezone": zone, "consent": consent,
             "consent_at": now, "created_at": now} for p in platform_ids])
        found = dict((await connection.execute(select(models.User.platform_user_id, models.User.id).where(
            models.User.channel == channel, models.User.platform_user_id.in_(platform_ids)))).all())
        ids = [found[p] for p in platform_ids]
        await connection.execute(insert(models.Reminder), [
            {"user_id": i, "cadence": cadence, "time_of_day": time_of_day, "next_due_at": due, "state": "active",
             "attempts": 0, "updated_at": now} for i in ids])
    if fake is not None:
        for p in platform_ids:
            fake.user(int(p), f"P{p}")
    return ids


@contextlib.asynccontextmanager
async def telegram_courier(fake: FakeTelegram, engine: Engine, data_dir: Path) -> AsyncIterator[TelegramTransport]:
    """The service's Telegram transport (not polling: pushes only), talking to the fake server."""
    settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.url, ACNEBOT_DATA_DIR=data_dir)
    transport = TelegramTransport(settings, engine)
    await transport.application.bot.initialize()
    try:
        yield transport
    finally:
        await transport.application.bot.shutdown()


def messages_per_chat(fake: FakeTelegram, since: int = 0) -> Counter:
    """How many messages the bot got through to each chat (refused calls not counted)."""
    return Counter(call.chat_id for call in fake.called("sendMessage", since)
                   if not isinstance(call.result, ApiError))
