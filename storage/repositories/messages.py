"""The message log: what each user sent and was sent. Photos appear by reference, never as bytes."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select

from storage import models
from storage.columns import utcnow
from storage.domain import Direction, LoggedMessage
from storage.units import Transactions


class MessageRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def log_message(self, user_id: int, direction: Direction, kind: str, text: str | None = None,
                          photo_id: int | None = None, at: datetime | None = None) -> int:
        if direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        async with self._tx.begin() as session:
            row = models.MessageLog(user_id=user_id, direction=direction, kind=kind, text=text, photo_id=photo_id,
                                    created_at=at or utcnow())
            session.add(row)
            await session.flush()
            return row.id

    async def log_messages(self, user_id: int, entries: Sequence[tuple[Direction, str, str | None, int | None]],
                           at: datetime | None = None) -> None:
        """Several entries (direction, kind, text, photo id) of one turn, in order, in one INSERT."""
        if any(direction not in ("in", "out") for direction, *_ in entries):
            raise ValueError("direction must be 'in' or 'out'")
        if not entries:
            return
        at = at or utcnow()
        async with self._tx.begin() as session:
            await session.execute(insert(models.MessageLog), [
                {"user_id": user_id, "direction": direction, "kind": kind, "text": text, "photo_id": photo_id,
                 "created_at": at} for direction, kind, text, photo_id in entries])

    async def list_messages(self, user_id: int, limit: int = 100) -> list[LoggedMessage]:
        """The latest `limit` entries, oldest first."""
        async with self._tx.begin() as session:
            rows = (await session.execute(
                select(models.MessageLog).where(models.MessageLog.user_id == user_id)
                .order_by(models.MessageLog.created_at.desc(), models.MessageLog.id.desc()).limit(limit)
            )).scalars().all()
        return [LoggedMessage(id=r.id, user_id=r.user_id, direction=r.direction,  # type: ignore[arg-type]
                              kind=r.kind, text=r.text, photo_id=r.photo_id, created_at=r.created_at)
                for r in reversed(rows)]
