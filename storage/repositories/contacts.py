"""How a patient can be reached on their messenger, shared by every replica: when they last wrote (platforms
such as WeChat only allow free-form pushes for a while after that), whether they left (unsubscribed), and the
option data of the last prompt a text-only channel rendered as numbered options."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import models
from storage.columns import utcnow
from storage.repositories._sql import insert
from storage.units import Transactions


@dataclass(frozen=True)
class Contact:
    user_id: int
    last_inbound_at: datetime | None = None
    unreachable_at: datetime | None = None
    prompt_options: tuple[str, ...] = ()


class ContactRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def get_contact(self, user_id: int) -> Contact:
        """The patient's contact row; an empty one when none was written yet."""
        async with self._tx.begin() as session:
            row = await session.get(models.ChannelContact, user_id)
            if row is None:
                return Contact(user_id)
            return Contact(user_id, row.last_inbound_at, row.unreachable_at, tuple(row.prompt_options or ()))

    async def record_inbound(self, user_id: int, at: datetime | None = None) -> None:
        """The patient wrote (or subscribed): the window opens again and they are reachable."""
        await self._upsert(user_id, last_inbound_at=at or utcnow(), unreachable_at=None)

    async def mark_unreachable(self, user_id: int, at: datetime | None = None) -> None:
        await self._upsert(user_id, unreachable_at=at or utcnow(), prompt_options=None)

    async def set_prompt_options(self, user_id: int, options: list[str] | None) -> None:
        await self._upsert(user_id, prompt_options=options)

    async def _upsert(self, user_id: int, **values: object) -> None:
        async with self._tx.begin() as session:
            stmt = insert(self._tx.dialect, models.ChannelContact).values(user_id=user_id, **values)
            await session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=values))
