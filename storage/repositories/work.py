"""The work table: slow work from the turn that asks for it to the turn that takes its result.

A turn adds its row in its own transaction (`add`, already claimed by the replica that will run it, or queued
when its workers are full); the row is removed in the transaction that stores the result (`finish`, only while
the finisher still owns it, so a result is stored and sent once). Anyone with a free worker claims queued rows
and rows whose lease ran out (`claim`): one UPDATE over the ids a sub-select picks, with FOR UPDATE SKIP LOCKED
on PostgreSQL (claimers never wait on each other) and under the unit's write lock on SQLite. Every query filters
on an indexed column, so its cost does not grow with the number of patients.

Why not a queue library: procrastinate and pgqueuer are PostgreSQL-only (SQLite is the default database here), and
both write jobs on their own connection (psycopg, asyncpg), so a job could not be added in the same transaction as
the patient's state, which is what makes a turn's work survive a crash exactly once.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from storage import models
from storage.columns import utcnow
from storage.domain import WorkItem
from storage.repositories._sql import rowcount
from storage.units import Transactions

W = models.WorkItem


def to_item(row: models.WorkItem) -> WorkItem:
    return WorkItem(id=row.id, user_id=row.user_id, message_id=row.message_id, job=row.job, args=row.args,
                    then=row.then, status=row.status, owner=row.owner,  # type: ignore[arg-type]
                    lease_until=row.lease_until, attempts=row.attempts, created_at=row.created_at)


class WorkRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def add(self, user_id: int, message_id: str, job: str, args: dict[str, Any], then: str, *,
                  owner: str | None, lease: timedelta, now: datetime | None = None) -> WorkItem:
        """A new row, running under `owner` until now + lease, or queued (owner None)."""
        now = now or utcnow()
        row = W(user_id=user_id, message_id=message_id, job=job, args=args, then=then,
                status="running" if owner else "queued", owner=owner, lease_until=now + lease if owner else None,
                attempts=1 if owner else 0, created_at=now, updated_at=now)
        async with self._tx.begin() as session:
            session.add(row)
            await session.flush()
            return to_item(row)

    async def claim(self, owner: str, now: datetime, lease: timedelta, *, limit: int = 1,
                    jobs: Collection[str] | None = None) -> list[WorkItem]:
        """Up to `limit` queued rows and rows whose lease ran out, oldest first, now `owner`'s until now + lease."""
        due = or_(W.status == "queued", and_(W.status == "running", W.lease_until <= now))
        picked = select(W.id).where(due)
        if jobs is not None:
            picked = picked.where(W.job.in_(jobs))
        picked = picked.order_by(W.id).limit(limit).with_for_update(skip_locked=True)
        return await self._take(picked, owner, now, lease)

    async def claim_own(self, owner: str, now: datetime, lease: timedelta) -> list[WorkItem]:
        """At start-up: the rows this owner held when it stopped (killed under them), taken again."""
        picked = select(W.id).where(W.owner == owner).with_for_update(skip_locked=True)
        return await self._take(picked, owner, now, lease)

    async def _take(self, picked, owner: str, now: datetime, lease: timedelta) -> list[WorkItem]:
        async with self._tx.begin() as session:
            rows = (await session.execute(
                update(W).where(W.id.in_(picked.scalar_subquery())).values(
                    status="running", owner=owner, lease_until=now + lease, attempts=W.attempts + 1, updated_at=now)
                .returning(W))).scalars().all()
            return sorted((to_item(r) for r in rows), key=lambda item: item.id)

    async def requeue(self, item_id: int, owner: str) -> bool:
        """Gives a row back to the queue (its owner's workers are full); False when it is no longer owner's."""
        async with self._tx.begin() as session:
            return rowcount(await session.execute(update(W).where(W.id == item_id, W.owner == owner).values(
                status="queued", owner=None, lease_until=None, updated_at=utcnow()))) == 1

    async def finish(self, item_id: int, owner: str) -> bool:
        """Removes the row while `owner` still holds it (inside the transaction that stores its result); False
        when it is gone (the patient erased their data) or another owner took it over (its lease ran out)."""
        async with self._tx.begin() as session:
            return rowcount(await session.execute(delete(W).where(W.id == item_id, W.owner == owner))) == 1

    async def pending(self, user_id: int | None = None) -> list[WorkItem]:
        """Rows in progress, oldest first (all, or one patient's): for the console, the tests and the benches."""
        query = select(W).order_by(W.id)
        if user_id is not None:
            query = query.where(W.user_id == user_id)
        async with self._tx.begin() as session:
            return [to_item(r) for r in (await session.execute(query)).scalars().all()]
