"""Erasing a patient: every row that references the user, found through the foreign keys to users.id, so a
table added later is covered without touching this module."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Table, delete, func, select, update

from storage import models
from storage.repositories._sql import rowcount
from storage.units import Transactions

USERS: Table = models.User.__table__  # type: ignore[assignment]


def _references_to_users(table: Table) -> list[ForeignKey]:
    return [fk for fk in table.foreign_keys if fk.column is USERS.c.id]


class ErasureRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def delete_user_data(self, user_id: int) -> dict[str, int]:
        """Deletes the user and everything of theirs in one transaction; returns rows deleted per table.
        Rows that must outlive the patient (the audit log: ON DELETE SET NULL) are unlinked instead and
        counted as `<table>_unlinked`."""
        counts: dict[str, int] = {}
        async with self._tx.begin() as session:
            for table in reversed(models.Base.metadata.sorted_tables):  # dependents before what they reference
                for fk in _references_to_users(table):
                    column = fk.parent
                    if fk.ondelete == "SET NULL":
                        result = await session.execute(
                            update(table).where(column == user_id).values({column.name: None}))
                        key = f"{table.name}_unlinked"
                    else:
                        result = await session.execute(delete(table).where(column == user_id))
                        key = table.name
                    counts[key] = counts.get(key, 0) + rowcount(result)
            counts["users"] = rowcount(await session.execute(delete(USERS).where(USERS.c.id == user_id)))
        return counts

    async def count_rows_for_user(self, user_id: int) -> dict[str, int]:
        """Rows referencing the user, per table (the users table included): all zero after erasure."""
        counts: dict[str, int] = {}
        async with self._tx.begin() as session:
            counts["users"] = (await session.execute(
                select(func.count()).select_from(USERS).where(USERS.c.id == user_id))).scalar_one()
            for table in models.Base.metadata.sorted_tables:
                for fk in _references_to_users(table):
                    counts[table.name] = counts.get(table.name, 0) + (await session.execute(
                        select(func.count()).select_from(table).where(fk.parent == user_id))).scalar_one()
        return counts
