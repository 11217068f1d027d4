"""Inbound messages already handled, so a platform's redelivery is answered once."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from storage import models
from storage.columns import utcnow
from storage.repositories._sql import insert, rowcount
from storage.units import Transactions


class DedupRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def mark_processed(self, channel: str, message_id: str, user_id: int | None = None) -> bool:
        """True the first time (channel, message_id) is seen, False after. Atomic: an INSERT that ignores
        a conflict. Inside `db.transaction()` the mark is undone if the handling fails, so a redelivery is
        handled again; on PostgreSQL a concurrent duplicate waits for that outcome."""
        async with self._tx.begin() as session:
            result = await session.execute(insert(self._tx.dialect, models.ProcessedMessage).values(
                channel=channel, message_id=str(message_id), user_id=user_id, created_at=utcnow()
            ).on_conflict_do_nothing(index_elements=["channel", "message_id"]))
            return rowcount(result) == 1

    async def prune_processed(self, older_than: datetime) -> int:
        """Forgets entries older than `older_than` (platforms stop redelivering after a day or so)."""
        async with self._tx.begin() as session:
            result = await session.execute(
                delete(models.ProcessedMessage).where(models.ProcessedMessage.created_at < older_than))
            return rowcount(result)
