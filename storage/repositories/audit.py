"""The audit log: who did what, when. `detail` must carry no health data (it outlives an erased patient)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage import models
from storage.columns import utcnow
from storage.domain import AuditEntry
from storage.units import Transactions


class AuditRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def record(self, action: str, *, staff_id: int | None = None, subject_user_id: int | None = None,
                     detail: dict[str, Any] | None = None, at: datetime | None = None) -> int:
        async with self._tx.begin() as session:
            row = models.AuditLog(at=at or utcnow(), staff_id=staff_id, action=action,
                                  subject_user_id=subject_user_id, detail=detail)
            session.add(row)
            await session.flush()
            return row.id

    async def list_audit(self, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        async with self._tx.begin() as session:
            rows = (await session.execute(select(models.AuditLog)
                                          .order_by(models.AuditLog.at.desc(), models.AuditLog.id.desc())
                                          .limit(limit))).scalars()
            return [AuditEntry(id=r.id, at=r.at, staff_id=r.staff_id, action=r.action,
                               subject_user_id=r.subject_user_id, detail=r.detail) for r in rows]
