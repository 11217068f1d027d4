"""Handovers to a person: the patient opens one, one staff member takes it, either side closes it.

take() is a single conditional UPDATE (status 'open' -> 'taken'), so when two staff members take the same
handover at once exactly one row update succeeds, on SQLite and PostgreSQL alike. Take and close are written to
the audit log in the same transaction; the detail holds the handover id only (no health data).
"""
from __future__ import annotations

from sqlalchemy import select, update

from storage import models
from storage.columns import utcnow
from storage.domain import Handover, QueuedHandover
from storage.errors import NotFound
from storage.repositories._sql import rowcount
from storage.repositories.assessments import to_stored_assessment
from storage.repositories.users import to_user
from storage.units import Transactions

ACTIVE = ("open", "taken")
H = models.Handover


def to_handover(row: models.Handover) -> Handover:
    return Handover(id=row.id, user_id=row.user_id, status=row.status,  # type: ignore[arg-type]
                    taken_by=row.taken_by, opened_at=row.opened_at, taken_at=row.taken_at,
                    closed_at=row.closed_at, closed_by=row.closed_by)


class HandoverRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def open_handover(self, user_id: int) -> Handover:
        """The patient's active handover, or a new open one (the engine calls this under the patient's lock)."""
        async with self._tx.begin() as session:
            active = await self.active_handover(user_id)
            if active is not None:
                return active
            row = H(user_id=user_id, status="open", opened_at=utcnow())
            session.add(row)
            await session.flush()
            return to_handover(row)

    async def active_handover(self, user_id: int) -> Handover | None:
        async with self._tx.begin() as session:
            row = (await session.execute(select(H).where(H.user_id == user_id, H.status.in_(ACTIVE))
                                         .order_by(H.id.desc()).limit(1))).scalar_one_or_none()
            return to_handover(row) if row else None

    async def get_handover(self, handover_id: int) -> Handover:
        async with self._tx.begin() as session:
            row = await session.get(H, handover_id, populate_existing=True)
            if row is None:
                raise NotFound(f"handover {handover_id}")
            return to_handover(row)

    async def list_active(self) -> list[QueuedHandover]:
        """Open and taken handovers, oldest first, each with the patient and their latest check-in."""
        async with self._tx.begin() as session:
            rows = (await session.execute(select(H, models.User).join(models.User, models.User.id == H.user_id)
                                          .where(H.status.in_(ACTIVE)).order_by(H.opened_at, H.id))).all()
            queued = []
            for handover, user in rows:
                A = models.AssessmentRow
                latest = (await session.execute(select(A).where(A.user_id == user.id)
                                                .order_by(A.created_at.desc(), A.id.desc()).limit(1))
                          ).scalar_one_or_none()
                queued.append(QueuedHandover(to_handover(handover), to_user(user),
                                             to_stored_assessment(latest) if latest else None))
            return queued

    async def take(self, handover_id: int, staff_id: int) -> bool:
        """True when this staff member now has it; False when it was taken (by anyone) or closed meanwhile."""
        async with self._tx.begin() as session:
            taken = rowcount(await session.execute(update(H).where(H.id == handover_id, H.status == "open")
                                                   .values(status="taken", taken_by=staff_id, taken_at=utcnow())))
            if taken:
                await self._audit(session, "handover.take", handover_id, staff_id)
            return taken == 1

    async def close(self, handover_id: int, staff_id: int | None = None) -> Handover | None:
        """Closes an active handover (staff_id None: the patient did); None when it was closed already."""
        async with self._tx.begin() as session:
            closed = rowcount(await session.execute(
                update(H).where(H.id == handover_id, H.status.in_(ACTIVE))
                .values(status="closed", closed_at=utcnow(), closed_by=staff_id)))
            if not closed:
                return None
            await self._audit(session, "handover.close", handover_id, staff_id)
            return await self.get_handover(handover_id)

    @staticmethod
    async def _audit(session, action: str, handover_id: int, staff_id: int | None) -> None:
        user_id = (await session.execute(select(H.user_id).where(H.id == handover_id))).scalar_one()
        session.add(models.AuditLog(at=utcnow(), staff_id=staff_id, action=action, subject_user_id=user_id,
                                    detail={"handover": handover_id, "by": "staff" if staff_id else "patient"}))
