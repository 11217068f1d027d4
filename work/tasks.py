"""Tasks a component starts and keeps until they end.

The event loop holds only a weak reference to a task, so a task nobody keeps can be collected before it ends;
and a failure nobody retrieves is reported only when the task is collected, with its traceback. Here each task is
kept while it runs, and a failure is logged when it ends, by its type only (a message may quote a patient's data).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Tasks:
    def __init__(self, what: str, on_end: Callable[[], None] | None = None):
        self.what = what  # named in the log line of a failure: "<what> failed: <error type>"
        self.on_end = on_end
        self._running: set[asyncio.Future] = set()

    def start(self, work: Awaitable) -> asyncio.Future:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Future) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", self.what, type(task.exception()).__name__)
        if self.on_end is not None:
            self.on_end()

    def __len__(self) -> int:
        return len(self._running)

    def __iter__(self):
        return iter(set(self._running))

    async def settle(self) -> None:
        """Waits until none is running, those started meanwhile included."""
        while self._running:
            await asyncio.wait(set(self._running))
