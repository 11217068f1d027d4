"""Per-patient rate limits as token buckets in the database, so replicas agree on what a patient has used.

A bucket holds up to `capacity` tokens and refills at capacity per `period`; an action takes one. The row is read
FOR UPDATE after an INSERT ... ON CONFLICT DO NOTHING (the first action creates it), so two replicas handling the
same patient's messages at once take turns on it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from storage import models
from storage.columns import utcnow
from storage.repositories._sql import insert
from storage.units import Transactions


@dataclass(frozen=True)
class Taken:
    allowed: bool
    first_refusal: bool = False  # refused, and the first refusal since the last allowed action: say so once


class RateLimitRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def take(self, user_id: int, kind: str, capacity: int, period: timedelta,
                   now: datetime | None = None) -> Taken:
        now = now or utcnow()
        async with self._tx.begin() as session:
            await session.execute(insert(self._tx.dialect, models.RateBucket).values(
                user_id=user_id, kind=kind, tokens=float(capacity), updated_at=now, refused=False
            ).on_conflict_do_nothing(index_elements=["user_id", "kind"]))
            bucket = (await session.execute(select(models.RateBucket).where(
                models.RateBucket.user_id == user_id, models.RateBucket.kind == kind).with_for_update()
            )).scalar_one()
            elapsed = max((now - bucket.updated_at).total_seconds(), 0.0)
            tokens = min(float(capacity), bucket.tokens + elapsed * capacity / period.total_seconds())
            bucket.updated_at = now
            if tokens >= 1.0:
                bucket.tokens, bucket.refused = tokens - 1.0, False
                return Taken(True)
            first = not bucket.refused
            bucket.tokens, bucket.refused = tokens, True
            return Taken(False, first)
