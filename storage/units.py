"""Units of work: one `async with session.begin()` each, shared by every repository call inside it.

    async with db.transaction():                      # one transaction, row locks held until the end
        state = await db.states.load_state(user_id, for_update=True)
        await db.states.save_state(replace(state, step="photo"))
        await db.messages.log_message(user_id, "out", "text", "Send a photo")

A repository call outside `db.transaction()` runs in a unit of its own. A unit belongs to the task that opened
it: other tasks (asyncio.gather, create_task) get units of their own. On SQLite every unit also holds a
process-wide asyncio lock for that file, since SQLite has one writer at a time and queueing on a lock is fairer
and faster than polling the file lock; so on SQLite, never await another task's database work while holding a
unit.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.engine import session_factory

_sqlite_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def sqlite_lock(database: str) -> asyncio.Lock:
    """The lock for one SQLite file in the running event loop (asyncio locks belong to one loop)."""
    per_loop = _sqlite_locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, asyncio.Lock())


class Transactions:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = session_factory(engine)
        self._units: weakref.WeakKeyDictionary[asyncio.Task, AsyncSession] = weakref.WeakKeyDictionary()
        self._sqlite_file = os.path.realpath(engine.url.database or ":memory:") if self.dialect == "sqlite" else None

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        """Join the unit this task has open, or open one."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("storage is used from asyncio tasks only")
        session = self._units.get(task)
        if session is not None:
            yield session
            return
        lock = sqlite_lock(self._sqlite_file) if self._sqlite_file else contextlib.nullcontext()
        async with lock, self._sessions() as session, session.begin():
            self._units[task] = session
            try:
                yield session
            finally:
                del self._units[task]
