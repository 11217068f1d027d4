"""A small shared key-value cache with expiry, for values every replica needs (e.g. the WeChat access token).

Replicas coordinate a refresh with `add`: only the one whose `add` of a lock key succeeds fetches a new value.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select

from storage import models
from storage.columns import utcnow
from storage.repositories._sql import insert, rowcount
from storage.units import Transactions


class CacheRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def get(self, key: str, now: datetime | None = None) -> str | None:
        """The value, or None when absent or expired."""
        now = now or utcnow()
        K = models.KeyValue
        async with self._tx.begin() as session:
            return (await session.execute(select(K.value).where(
                K.key == key, or_(K.expires_at.is_(None), K.expires_at > now)))).scalar_one_or_none()

    async def set(self, key: str, value: str, expires_at: datetime | None = None) -> None:
        async with self._tx.begin() as session:
            stmt = insert(self._tx.dialect, models.KeyValue).values(key=key, value=value, expires_at=expires_at)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "expires_at": expires_at}))

    async def add(self, key: str, value: str, expires_at: datetime | None = None,
                  now: datetime | None = None) -> bool:
        """Stores the value only if the key is absent or expired; True when it did (atomic)."""
        now = now or utcnow()
        K = models.KeyValue
        async with self._tx.begin() as session:
            stmt = insert(self._tx.dialect, K).values(key=key, value=value, expires_at=expires_at)
            result = await session.execute(stmt.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "expires_at": expires_at},
                where=K.expires_at.is_not(None) & (K.expires_at <= now)))
            return rowcount(result) == 1

    async def delete(self, key: str) -> None:
        async with self._tx.begin() as session:
            await session.execute(delete(models.KeyValue).where(models.KeyValue.key == key))

    async def purge_expired(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        async with self._tx.begin() as session:
            return rowcount(await session.execute(delete(models.KeyValue).where(
                models.KeyValue.expires_at.is_not(None), models.KeyValue.expires_at <= now)))

