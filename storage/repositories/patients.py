"""The staff console's patient list: users with their latest check-in, filtered and paged in SQL."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from storage import models
from storage.repositories.handovers import ACTIVE
from storage.units import Transactions


@dataclass(frozen=True, slots=True)
class PatientFilter:
    channel: str | None = None
    handle: str | None = None  # part of the platform user id
    since: datetime | None = None  # first contact on or after
    until: datetime | None = None  # first contact before
    grade: str | None = None  # of the latest check-in
    needs_doctor: bool = False  # the latest check-in advised a doctor
    handover_only: bool = False  # only patients with an open or taken handover (who asked for a person)


@dataclass(frozen=True, slots=True)
class PatientRow:
    id: int
    channel: str
    platform_user_id: str
    locale: str | None
    created_at: datetime
    checkins: int
    last_checkin_at: datetime | None
    grade: str | None
    score: int | None
    referral: bool


class PatientRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def search_patients(self, where: PatientFilter, *, offset: int = 0,
                              limit: int = 20) -> tuple[list[PatientRow], int]:
        """One page of patients, newest first, and how many match in all."""
        U, A = models.User, models.AssessmentRow
        per_user = (select(A.user_id, func.max(A.id).label("latest"), func.count(A.id).label("checkins"))
                    .group_by(A.user_id).subquery())
        latest = A.__table__.alias("latest")
        query = (select(U, per_user.c.checkins, latest.c.created_at, latest.c.grade, latest.c.score,
                        latest.c.referral)
                 .outerjoin(per_user, per_user.c.user_id == U.id)
                 .outerjoin(latest, latest.c.id == per_user.c.latest))
        if where.channel:
            query = query.where(U.channel == where.channel)
        if where.handle:
            pattern = "%" + where.handle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(func.lower(U.platform_user_id).like(pattern, escape="\\"))
        if where.since:
            query = query.where(U.created_at >= where.since)
        if where.until:
            query = query.where(U.created_at < where.until)
        if where.grade:
            query = query.where(latest.c.grade == where.grade)
        if where.needs_doctor:
            query = query.where(latest.c.referral.is_(True))
        if where.handover_only:
            H = models.Handover
            query = query.where(select(H.id).where(H.user_id == U.id, H.status.in_(ACTIVE)).exists())
        async with self._tx.begin() as session:
            total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            rows = (await session.execute(query.order_by(U.created_at.desc(), U.id.desc())
                                          .offset(offset).limit(limit))).all()
        return [PatientRow(id=u.id, channel=u.channel, platform_user_id=u.platform_user_id, locale=u.locale,
                           created_at=u.created_at, checkins=checkins or 0, last_checkin_at=at, grade=grade,
                           score=score, referral=bool(referral))
                for u, checkins, at, grade, score, referral in rows], total

    async def channels(self) -> list[str]:
        async with self._tx.begin() as session:
            return list((await session.execute(select(models.User.channel).distinct()
                                               .order_by(models.User.channel))).scalars())
