"""Check-in reminders: one schedule per user, claimed by dispatchers so each is sent once.

A dispatcher calls claim_due(now), sends each claimed reminder, then mark_sent (with the next due time) or
mark_failed (with a retry time) or give_up; these change a reminder only while it is still claimed. A claim is
a lease: if its dispatcher dies, the reminder becomes claimable again at `claimed_until`, so the lease must
outlast a send's timeout.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, time, timedelta

from sqlalchemy import and_, or_, select, update

from storage import models
from storage.columns import utcnow
from storage.domain import Reminder, ReminderSchedule
from storage.repositories._sql import insert, rowcount
from storage.units import Transactions

DEFAULT_LEASE = timedelta(minutes=5)


def to_reminder(row: models.Reminder) -> Reminder:
    return Reminder(id=row.id, user_id=row.user_id, cadence=row.cadence, time_of_day=row.time_of_day,
                    next_due_at=row.next_due_at, state=row.state,  # type: ignore[arg-type]
                    attempts=row.attempts, last_error=row.last_error, claimed_until=row.claimed_until,
                    updated_at=row.updated_at)


class ReminderRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def set_reminder(self, user_id: int, cadence: str, time_of_day: time, next_due_at: datetime) -> Reminder:
        """Creates or replaces the user's schedule, active from `next_due_at`."""
        now = utcnow()
        values = {"cadence": cadence, "time_of_day": time_of_day, "next_due_at": next_due_at, "state": "active",
                  "claimed_until": None, "attempts": 0, "last_error": None, "updated_at": now}
        async with self._tx.begin() as session:
            stmt = insert(self._tx.dialect, models.Reminder).values(user_id=user_id, **values)
            await session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=values))
            row = (await session.execute(
                select(models.Reminder).where(models.Reminder.user_id == user_id))).scalar_one()
            return to_reminder(row)

    async def get_reminder(self, user_id: int) -> Reminder | None:
        async with self._tx.begin() as session:
            row = (await session.execute(
                select(models.Reminder).where(models.Reminder.user_id == user_id))).scalar_one_or_none()
            return to_reminder(row) if row else None

    async def stop_reminder(self, user_id: int) -> bool:
        """False when the user had no schedule."""
        async with self._tx.begin() as session:
            return rowcount(await session.execute(update(models.Reminder).where(
                models.Reminder.user_id == user_id).values(state="stopped", claimed_until=None,
                                                           updated_at=utcnow()))) == 1

    async def claim_due(self, now: datetime, limit: int = 100, lease: timedelta = DEFAULT_LEASE,
                        channels: Collection[str] | None = None) -> list[Reminder]:
        """Claims up to `limit` reminders due at `now` (and expired claims), earliest first; only those of
        patients on `channels` when given (a dispatcher claims what it can send).

        PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent dispatchers take disjoint sets without
        waiting on each other. SQLite: the unit's process-wide lock serializes dispatchers.
        """
        R = models.Reminder
        due = or_(and_(R.state == "active", R.next_due_at <= now),
                  and_(R.state == "claimed", R.claimed_until <= now))
        query = select(R.id).where(due)
        if channels is not None:
            query = query.join(models.User, models.User.id == R.user_id).where(models.User.channel.in_(channels))
        async with self._tx.begin() as session:
            ids = (await session.execute(query.order_by(R.next_due_at, R.id).limit(limit)
                                         .with_for_update(of=R, skip_locked=True))).scalars().all()
            if not ids:
                return []
            await session.execute(update(R).where(R.id.in_(ids)).values(
                state="claimed", claimed_until=now + lease, attempts=R.attempts + 1, updated_at=utcnow()))
            rows = (await session.execute(
                select(R).where(R.id.in_(ids)).order_by(R.next_due_at, R.id))).scalars().all()
            return [to_reminder(r) for r in rows]

    async def mark_sent(self, reminder_id: int, next_due_at: datetime) -> None:
        await self._finish(reminder_id, state="active", next_due_at=next_due_at, attempts=0, last_error=None)

    async def mark_failed(self, reminder_id: int, error: str, retry_at: datetime) -> None:
        """Back to active at `retry_at`; `attempts` (counted at each claim) says how many tries so far."""
        await self._finish(reminder_id, state="active", next_due_at=retry_at, last_error=error[:2000])

    async def postpone(self, reminder_id: int, until: datetime) -> None:
        """Back to active at `until` without counting the claim as a try (quiet hours, not a failure)."""
        await self._finish(reminder_id, state="active", next_due_at=until, attempts=models.Reminder.attempts - 1)

    async def snooze_reminder(self, user_id: int, until: datetime) -> bool:
        """The patient's next reminder at `until`; False when they have none (or stopped it)."""
        R = models.Reminder
        async with self._tx.begin() as session:
            return rowcount(await session.execute(update(R).where(R.user_id == user_id, R.state != "stopped").values(
                state="active", next_due_at=until, claimed_until=None, attempts=0, updated_at=utcnow()))) == 1

    async def schedule(self, user_id: int) -> ReminderSchedule | None:
        """The patient's reminder with their time zone (for the staff console), or None without one."""
        R = models.Reminder
        async with self._tx.begin() as session:
            found = (await session.execute(select(R, models.User.timezone).where(R.user_id == user_id)
                                           .join(models.User, models.User.id == R.user_id))).one_or_none()
            return ReminderSchedule(to_reminder(found[0]), found[1]) if found else None

    async def give_up(self, reminder_id: int, error: str) -> None:
        await self._finish(reminder_id, state="failed", last_error=error[:2000])

    async def _finish(self, reminder_id: int, **values: object) -> None:
        """Ends a claim. A reminder no longer claimed (the patient stopped, snoozed or reset it while it was
        being sent; or erased it) keeps what the patient said."""
        R = models.Reminder
        async with self._tx.begin() as session:
            await session.execute(update(R).where(R.id == reminder_id, R.state == "claimed")
                                  .values(claimed_until=None, updated_at=utcnow(), **values))
