"""Units of work: one `async with session.begin()` each, shared by every repository call inside it.

    async with db.transaction():                      # one transaction, row locks held until the end
        state = await db.states.load_state(user_id, for_update=True)
        await db.states.save_state(replace(state, step="photo"))
        await db.messages.log_message(user_id, "out", "text", "Send a photo")

A repository call outside `db.transaction()` runs in a unit of its own. A unit belongs to the task that opened
it: other tasks (asyncio.gather, create_task) get units of their own. On SQLite every unit also holds a
process-wide lock for that file (`WriterLock`), since SQLite has one writer at a time and queueing on a lock is
fairer and faster than polling the file lock; so on SQLite, never await another task's database work while
holding a unit. A unit opened `urgent` (a patient's message waiting for its answer) goes ahead of every waiting
unit that is not (finishing slow work, pushes, housekeeping). On PostgreSQL, units that are not urgent run at
most BACKGROUND_UNITS at a time, so a burst of finished work cannot take the connection pool and the event loop
from the patients' turns (bench/bench_turns_under_load.py).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import weakref
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.engine import session_factory


class WriterLock:
    """One holder at a time, first come first served, except that waiting urgent units go first."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: dict[bool, collections.deque[asyncio.Future]] = {True: collections.deque(),
                                                                         False: collections.deque()}

    @contextlib.asynccontextmanager
    async def hold(self, urgent: bool) -> AsyncIterator[None]:
        if self._held:
            turn = asyncio.get_running_loop().create_future()
            self._waiting[urgent].append(turn)
            try:
                await turn  # done when the holder hands the lock over (_held stays True)
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # handed over as this waiter was cancelled: pass it on
                else:
                    self._waiting[urgent].remove(turn)
                raise
        self._held = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self._waiting[True], self._waiting[False]):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._held = False


BACKGROUND_UNITS = 3
_sqlite_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WriterLock]] = \
    weakref.WeakKeyDictionary()


def sqlite_lock(database: str) -> WriterLock:
    """The lock for one SQLite file in the running event loop (its futures belong to one loop)."""
    per_loop = _sqlite_locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, WriterLock())


class Transactions:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = session_factory(engine)
        self._units: weakref.WeakKeyDictionary[asyncio.Task, AsyncSession] = weakref.WeakKeyDictionary()
        self._sqlite_file = os.path.realpath(engine.url.database or ":memory:") if self.dialect == "sqlite" else None
        self._background: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.asynccontextmanager
    async def begin(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """Join the unit this task has open, or open one."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("storage is used from asyncio tasks only")
        session = self._units.get(task)
        if session is not None:
            yield session
            return
        async with self._place(urgent), self._sessions() as session, session.begin():
            self._units[task] = session
            try:
                yield session
            finally:
                del self._units[task]

    def _place(self, urgent: bool) -> contextlib.AbstractAsyncContextManager:
        """What a new unit waits for: SQLite's writer lock; on PostgreSQL, a background unit's place."""
        if self._sqlite_file:
            return sqlite_lock(self._sqlite_file).hold(urgent)
        if urgent:
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        return self._background.setdefault(loop, asyncio.Semaphore(BACKGROUND_UNITS))
