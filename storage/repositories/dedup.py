"""Inbound messages already handled, so a platform's redelivery is answered once.

A platform's message id can name the patient (Telegram's is "<chat id>:<message id>", and a private chat's id
is the user's), and marks made before consent or by the erasing message itself are not linked to the user row,
so erasure cannot find them. So only a keyed hash of the id is stored: equal ids still collide, but nothing in
the table can be traced back to a patient without the key. The key derives from the photo key; rotating that
forgets the marks, which only matters for a redelivery that crosses the rotation.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import delete

from storage import models
from storage.columns import utcnow
from storage.repositories._sql import insert, rowcount
from storage.units import Transactions


class DedupRepository:
    def __init__(self, tx: Transactions, key: bytes):
        self._tx = tx
        self._key = key

    def _digest(self, message_id: str) -> str:
        return hmac.new(self._key, str(message_id).encode(), hashlib.sha256).hexdigest()

    async def mark_processed(self, channel: str, message_id: str, user_id: int | None = None) -> bool:
        """True the first time (channel, message_id) is seen, False after. Atomic: an INSERT that ignores
        a conflict. Inside `db.transaction()` the mark is undone if the handling fails, so a redelivery is
        handled again; on PostgreSQL a concurrent duplicate waits for that outcome."""
        async with self._tx.begin() as session:
            result = await session.execute(insert(self._tx.dialect, models.ProcessedMessage).values(
                channel=channel, message_id=self._digest(message_id), user_id=user_id, created_at=utcnow()
            ).on_conflict_do_nothing(index_elements=["channel", "message_id"]))
            return rowcount(result) == 1

    async def prune_processed(self, older_than: datetime) -> int:
        """Forgets entries older than `older_than` (platforms stop redelivering after a day or so)."""
        async with self._tx.begin() as session:
            result = await session.execute(
                delete(models.ProcessedMessage).where(models.ProcessedMessage.created_at < older_than))
            return rowcount(result)
