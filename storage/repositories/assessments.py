"""Assessment results: the full result as JSON, and the numbers a history or trend needs as columns beside it."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from storage import models
from storage.columns import utcnow
from storage.domain import StoredAssessment
from storage.errors import NotFound
from storage.units import Transactions


class StorableResult(Protocol):
    """What storage needs of a result: pipeline.result.AssessmentResult, which storage, below the pipeline, does not
    import. Its JSON is stored as it is and read back with AssessmentResult.from_json."""

    @property
    def ok(self) -> bool: ...

    @property
    def score(self) -> int | None: ...

    @property
    def grade(self) -> str | None: ...

    @property
    def personalised_grade(self) -> str | None: ...

    @property
    def counts(self) -> Mapping[str, Mapping[str, int] | None]: ...

    @property
    def referral(self) -> bool: ...

    @property
    def model_version(self) -> str | None: ...

    def to_json(self) -> dict[str, Any]: ...


def to_stored_assessment(row: models.AssessmentRow) -> StoredAssessment:
    return StoredAssessment(id=row.id, user_id=row.user_id, created_at=row.created_at, score=row.score,
                            grade=row.grade, grade_personalised=row.grade_personalised, counts=row.counts,
                            result=row.result, model_version=row.model_version, referral=row.referral,
                            photo_ids=tuple(row.photo_ids))


class AssessmentRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def save_assessment(self, user_id: int, result: StorableResult, photo_ids: Sequence[int] = (),
                              created_at: datetime | None = None) -> StoredAssessment:
        if not result.ok:
            raise ValueError("only a successful assessment is stored (this result failed its quality check)")
        counts = {region: dict(c) if c is not None else None for region, c in result.counts.items()}
        row = models.AssessmentRow(user_id=user_id, created_at=created_at or utcnow(), result=result.to_json(),
                                   photo_ids=[int(p) for p in photo_ids], score=result.score, grade=result.grade,
                                   grade_personalised=result.personalised_grade, counts=counts,
                                   referral=result.referral, model_version=result.model_version)
        async with self._tx.begin() as session:
            session.add(row)
            await session.flush()
            return to_stored_assessment(row)

    async def get_assessment(self, assessment_id: int, user_id: int | None = None) -> StoredAssessment:
        """With `user_id`, someone else's assessment is NotFound too."""
        async with self._tx.begin() as session:
            row = await session.get(models.AssessmentRow, assessment_id, populate_existing=True)
            if row is None or (user_id is not None and row.user_id != user_id):
                raise NotFound(f"assessment {assessment_id}")
            return to_stored_assessment(row)

    async def list_assessments(self, user_id: int, limit: int | None = None) -> list[StoredAssessment]:
        """Oldest first; with `limit`, the latest `limit` of them."""
        async with self._tx.begin() as session:
            query = (select(models.AssessmentRow).where(models.AssessmentRow.user_id == user_id)
                     .order_by(models.AssessmentRow.created_at.desc(), models.AssessmentRow.id.desc()))
            if limit is not None:
                query = query.limit(limit)
            rows = (await session.execute(query)).scalars().all()
            return [to_stored_assessment(r) for r in reversed(rows)]

    async def latest_assessment(self, user_id: int) -> StoredAssessment | None:
        found = await self.list_assessments(user_id, limit=1)
        return found[0] if found else None
