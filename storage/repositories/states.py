"""Where each user is in a dialog: flow, step and the flow's data, with a version for optimistic checks."""
from __future__ import annotations

from sqlalchemy import literal, select, update

from storage import models
from storage.columns import Json, UTCDateTime, utcnow
from storage.domain import ConversationState
from storage.errors import NotFound, StaleState
from storage.repositories._sql import insert, rowcount
from storage.units import Transactions


class StateRepository:
    def __init__(self, tx: Transactions):
        self._tx = tx

    async def load_state(self, user_id: int, for_update: bool = True) -> ConversationState:
        """The user's state (an empty one, version 0, the first time).

        With `for_update` inside `db.transaction()`, PostgreSQL locks the row until the transaction ends, so
        two replicas handling the same user take turns (on SQLite, units never overlap anyway).
        """
        query = select(models.ConversationState).where(models.ConversationState.user_id == user_id)
        if for_update:
            query = query.with_for_update()
        async with self._tx.begin() as session:
            row = (await session.execute(query)).scalar_one_or_none()
            if row is None and for_update:
                # A row must exist to be locked: the first of two concurrent callers inserts it, and the
                # second waits on that insert before it reads. (Most turns find it and skip this.)
                # INSERT ... SELECT FROM users: an unknown user inserts nothing instead of failing the FK.
                fresh = select(models.User.id, literal({}, Json), literal(0), literal(utcnow(), UTCDateTime())) \
                    .where(models.User.id == user_id)
                await session.execute(insert(self._tx.dialect, models.ConversationState).from_select(
                    ["user_id", "data", "version", "updated_at"], fresh
                ).on_conflict_do_nothing(index_elements=["user_id"]))
                row = (await session.execute(query)).scalar_one_or_none()
            if row is None:
                if await session.get(models.User, user_id, populate_existing=True) is None:
                    raise NotFound(f"user {user_id}")
                return ConversationState(user_id=user_id)
            return ConversationState(user_id=row.user_id, flow=row.flow, step=row.step, data=row.data,
                                     version=row.version, updated_at=row.updated_at)

    async def save_state(self, state: ConversationState) -> ConversationState:
        """Stores `state` if the row still has `state.version`; returns it with the new version.

        Raises StaleState when someone saved in between (the caller reloads and retries or gives up).
        """
        now = utcnow()
        new_version = state.version + 1
        values = {"flow": state.flow, "step": state.step, "data": state.data, "version": new_version,
                  "updated_at": now}
        async with self._tx.begin() as session:
            result = await session.execute(update(models.ConversationState).where(
                models.ConversationState.user_id == state.user_id,
                models.ConversationState.version == state.version).values(**values))
            if rowcount(result) == 0:
                if state.version != 0:
                    raise StaleState(f"conversation state of user {state.user_id} changed since version "
                                     f"{state.version}")
                result = await session.execute(insert(self._tx.dialect, models.ConversationState).values(
                    user_id=state.user_id, **values).on_conflict_do_nothing(index_elements=["user_id"]))
                if rowcount(result) == 0:
                    raise StaleState(f"conversation state of user {state.user_id} was created concurrently")
        return ConversationState(user_id=state.user_id, flow=state.flow, step=state.step, data=state.data,
                                 version=new_version, updated_at=now)
