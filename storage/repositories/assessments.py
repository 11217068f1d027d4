"""Assessment results: the numbers a history or trend needs as columns, the full result as JSON."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage import models
from storage.columns import utcnow
from storage.domain import StoredAssessment
from storage.errors import NotFound
from storage.units import Transactions


def to_stored_assessment(row: models.AssessmentRow) -> StoredAssessment:
    return StoredAssessment(id=row.id, user_id=row.user_id, created_at=row.created_at, score=row.score,
                            grade=row.grade, grade_personalised=row.grade_personalised, counts=row.counts,
                            result=row.result, model_version=row.model_version, referral=row.referral,
                            photo_ids=tuple(row.photo_ids))


def summary_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The columns, read from `pipeline.report.assessment_json` output (its documented, stable keys)."""
    if "score" not in result:
        raise ValueError("only a successful assessment is stored (this result failed its quality check)")
    regions = result.get("regions", {})
    model = result.get("model") or {}
    return {
        "score": int(result["score"]),
        "grade": result["grade"],
        "grade_personalised": (result.get("grade_personalised") or {}).get("grade"),
        "counts": {name: dict(r["counts"]) if r.get("assessed") else None for name, r in regions.items()},
        "referral": bool((result.get("refer") or {}).get("needed", False)),
        "model_version": "@".join(str(model[k]) for k in ("name", "version") if model.get(k)) or None,
    }


class AssessmentRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def save_assessment(self, user_id: int, result: Mapping[str, Any], photo_ids: Sequence[int] = (),
                              created_at: datetime | None = None) -> StoredAssessment:
        """Stores `result` (the dict of `pipeline.report.assessment_json`) for the user."""
        row = models.AssessmentRow(user_id=user_id, created_at=created_at or utcnow(), result=dict(result),
                                photo_ids=[int(p) for p in photo_ids], **summary_of(result))
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
