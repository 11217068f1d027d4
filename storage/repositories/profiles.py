"""Questionnaire answers asked once (CLINICAL.md), kept per user as one JSON object."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage import models
from storage.columns import utcnow
from storage.domain import Profile
from storage.repositories._sql import insert
from storage.units import Transactions


class ProfileRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def save_profile(self, user_id: int, answers: dict[str, Any]) -> Profile:
        """Replaces the stored answers with `answers`."""
        now = utcnow()
        async with self._tx.begin() as session:
            stmt = insert(self._tx.dialect, models.Profile).values(user_id=user_id, answers=answers, updated_at=now)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["user_id"], set_={"answers": stmt.excluded.answers, "updated_at": now}))
        return Profile(user_id=user_id, answers=answers, updated_at=now)

    async def load_profile(self, user_id: int) -> Profile | None:
        async with self._tx.begin() as session:
            row = (await session.execute(
                select(models.Profile).where(models.Profile.user_id == user_id))).scalar_one_or_none()
            return Profile(user_id=row.user_id, answers=row.answers, updated_at=row.updated_at) if row else None
