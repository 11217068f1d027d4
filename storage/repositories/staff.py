"""Staff accounts for the console (hashing passwords is the console's job; only the hash is stored)."""
from __future__ import annotations

from sqlalchemy import select, update

from storage import models
from storage.columns import utcnow
from storage.domain import StaffAccount
from storage.errors import NotFound
from storage.repositories._sql import rowcount
from storage.units import Transactions


def to_staff(row: models.StaffAccount) -> StaffAccount:
    return StaffAccount(id=row.id, username=row.username, password_hash=row.password_hash, role=row.role,
                        disabled=row.disabled, created_at=row.created_at)


class StaffRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def create_staff(self, username: str, password_hash: str, role: str = "staff") -> StaffAccount:
        async with self._tx.begin() as session:
            row = models.StaffAccount(username=username, password_hash=password_hash, role=role, disabled=False,
                                      created_at=utcnow())
            session.add(row)
            await session.flush()
            return to_staff(row)

    async def get_staff(self, username: str) -> StaffAccount | None:
        async with self._tx.begin() as session:
            row = (await session.execute(select(models.StaffAccount).where(
                models.StaffAccount.username == username))).scalar_one_or_none()
            return to_staff(row) if row else None

    async def list_staff(self) -> list[StaffAccount]:
        async with self._tx.begin() as session:
            rows = (await session.execute(select(models.StaffAccount).order_by(models.StaffAccount.id))).scalars()
            return [to_staff(r) for r in rows]

    async def get_staff_by_id(self, staff_id: int) -> StaffAccount | None:
        async with self._tx.begin() as session:
            row = await session.get(models.StaffAccount, staff_id, populate_existing=True)
            return to_staff(row) if row else None

    async def set_password(self, username: str, password_hash: str) -> None:
        await self._update(username, password_hash=password_hash)

    async def set_disabled(self, username: str, disabled: bool = True) -> None:
        await self._update(username, disabled=disabled)

    async def set_role(self, username: str, role: str) -> None:
        await self._update(username, role=role)

    async def _update(self, username: str, **values: object) -> None:
        async with self._tx.begin() as session:
            result = await session.execute(update(models.StaffAccount).where(
                models.StaffAccount.username == username).values(**values))
            if rowcount(result) != 1:
                raise NotFound(f"staff account {username}")
