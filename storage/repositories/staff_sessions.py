"""Console login sessions (server-side, so logout and expiry hold on every replica) and the login throttle."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from storage import models
from storage.domain import StaffAccount
from storage.repositories._sql import insert
from storage.repositories.staff import to_staff
from storage.units import Transactions


@dataclass(frozen=True, slots=True)
class StaffSession:
    token_hash: str
    staff: StaffAccount
    csrf: str
    created_at: datetime
    last_seen_at: datetime


class StaffSessionRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def create_session(self, token_hash: str, staff_id: int, csrf: str, now: datetime) -> None:
        async with self._tx.begin() as session:
            session.add(models.StaffSession(token_hash=token_hash, staff_id=staff_id, csrf=csrf, created_at=now,
                                            last_seen_at=now))

    async def touch_session(self, token_hash: str, *, idle: timedelta, lifetime: timedelta,
                            now: datetime) -> StaffSession | None:
        """The live session with this token (its last-seen time moved to `now`); an expired one, or one whose
        account was disabled, is deleted and None is returned."""
        S, A = models.StaffSession, models.StaffAccount
        async with self._tx.begin() as session:
            found = (await session.execute(select(S, A).join(A, A.id == S.staff_id)
                                           .where(S.token_hash == token_hash))).one_or_none()
            if found is None:
                return None
            row, account = found
            if account.disabled or row.last_seen_at + idle <= now or row.created_at + lifetime <= now:
                await session.execute(delete(S).where(S.token_hash == token_hash))
                return None
            await session.execute(update(S).where(S.token_hash == token_hash).values(last_seen_at=now))
            return StaffSession(token_hash, to_staff(account), row.csrf, row.created_at, now)

    async def delete_session(self, token_hash: str) -> None:
        async with self._tx.begin() as session:
            await session.execute(delete(models.StaffSession).where(models.StaffSession.token_hash == token_hash))

    async def delete_sessions_of(self, staff_id: int) -> None:
        """Logs the account out everywhere (a new password, a disabled account)."""
        async with self._tx.begin() as session:
            await session.execute(delete(models.StaffSession).where(models.StaffSession.staff_id == staff_id))

    async def purge_expired(self, *, idle: timedelta, lifetime: timedelta, now: datetime) -> None:
        S = models.StaffSession
        async with self._tx.begin() as session:
            await session.execute(delete(S).where(or_(S.last_seen_at <= now - idle, S.created_at <= now - lifetime)))


class LoginThrottleRepository:
    """Failed tries counted per key within a window; `max_failures` of them lock the key for `lockout`."""

    def __init__(self, tx: Transactions):
        self._tx = tx

    async def locked_until(self, keys: list[str], now: datetime) -> datetime | None:
        T = models.LoginThrottle
        async with self._tx.begin() as session:
            until = (await session.execute(select(T.locked_until).where(T.key.in_(keys), T.locked_until > now))
                     ).scalars().all()
            return max(until) if until else None

    async def record_failure(self, key: str, now: datetime, *, window: timedelta, max_failures: int,
                             lockout: timedelta) -> bool:
        """Counts one failed try; True when this one locked the key."""
        T = models.LoginThrottle
        async with self._tx.begin() as session:
            await session.execute(insert(self._tx.dialect, T).values(
                key=key, failures=0, window_started_at=now, locked_until=None).on_conflict_do_nothing(
                index_elements=["key"]))
            row = (await session.execute(select(T).where(T.key == key).with_for_update())).scalar_one()
            failures = row.failures + 1 if row.window_started_at + window > now else 1
            started = row.window_started_at if failures > 1 else now
            locked = now + lockout if failures >= max_failures else None
            await session.execute(update(T).where(T.key == key).values(
                failures=0 if locked else failures, window_started_at=started, locked_until=locked))
            return locked is not None

    async def clear(self, key: str) -> None:
        async with self._tx.begin() as session:
            await session.execute(delete(models.LoginThrottle).where(models.LoginThrottle.key == key))
