"""Patients, one per (channel, platform user id), with locale, time zone and consent."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from storage import models
from storage.columns import utcnow
from storage.domain import Consent, User
from storage.errors import NotFound
from storage.repositories._sql import insert, rowcount
from storage.units import Transactions


def to_user(row: models.User) -> User:
    return User(id=row.id, channel=row.channel, platform_user_id=row.platform_user_id, locale=row.locale,
                timezone=row.timezone, consent=row.consent,  # type: ignore[arg-type]
                consent_at=row.consent_at, created_at=row.created_at)


class UserRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def get_or_create_user(self, channel: str, platform_user_id: str,
                                 locale_hint: str | None = None) -> User:
        """The user, created on first contact with `locale_hint` as locale; safe against concurrent calls."""
        platform_user_id = str(platform_user_id)
        async with self._tx.begin() as session:
            await session.execute(
                insert(self._tx.dialect, models.User).values(
                    channel=channel, platform_user_id=platform_user_id, locale=locale_hint, consent="pending",
                    created_at=utcnow()).on_conflict_do_nothing(index_elements=["channel", "platform_user_id"]))
            row = (await session.execute(select(models.User).where(
                models.User.channel == channel, models.User.platform_user_id == platform_user_id))).scalar_one()
            return to_user(row)

    async def find_user(self, channel: str, platform_user_id: str) -> User | None:
        async with self._tx.begin() as session:
            row = (await session.execute(select(models.User).where(
                models.User.channel == channel,
                models.User.platform_user_id == str(platform_user_id)))).scalar_one_or_none()
            return to_user(row) if row else None

    async def get_user(self, user_id: int) -> User:
        async with self._tx.begin() as session:
            row = await session.get(models.User, user_id, populate_existing=True)
            if row is None:
                raise NotFound(f"user {user_id}")
            return to_user(row)

    async def set_locale(self, user_id: int, locale: str) -> None:
        await self._update(user_id, locale=locale)

    async def set_timezone(self, user_id: int, timezone: str) -> None:
        await self._update(user_id, timezone=timezone)

    async def set_consent(self, user_id: int, consent: Consent, at: datetime | None = None) -> None:
        await self._update(user_id, consent=consent, consent_at=at or utcnow())

    async def _update(self, user_id: int, **values: object) -> None:
        async with self._tx.begin() as session:
            result = await session.execute(update(models.User).where(models.User.id == user_id).values(**values))
            if rowcount(result) != 1:
                raise NotFound(f"user {user_id}")
