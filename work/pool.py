"""WorkerPool: the worker processes that run any job and know none. `workers` processes (ASSESSMENT_WORKERS),
each started on first use from a fork server that already holds the libraries (work/process.py), running at a
lower CPU priority. The chat process's event loop then only waits for results: other patients' turns do not
queue behind the pipeline's Python code for the interpreter lock (bench/bench_conversations.py).

Admission is by an asyncio semaphore with one slot per worker: a job that finds every worker busy waits its turn
(nothing is dropped) and its caller is told its place in the line. A bounded job (an assessment) waits in memory
only while the line is shorter than `queue` (ASSESSMENT_QUEUE); past it `QueueFull` says so, and its row in the
work table waits for any replica or `acnebot worker` with a free worker to claim it.

A worker that dies under a job (killed, out of memory, a crash in a native library) is replaced and the job runs
once more in the new one; the caller sees one result. A job that kills its worker twice raises WorkerDied.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from work import process
from work.jobs import CACHE_SIZE

log = logging.getLogger(__name__)
T = TypeVar("T")
OnQueued = Callable[[int], Awaitable[None]]
RUNS = 2  # a job whose worker died runs once more, in its replacement
AFFINITY = CACHE_SIZE  # photos a worker is remembered to have prepared

__all__ = ["QueueFull", "WorkerDied", "WorkerPool"]


class QueueFull(Exception):
    """Every worker is busy and `queue` jobs already wait: this one waits in the work table instead."""

    def __init__(self, place: int):
        super().__init__(f"assessment queue full; place {place}")
        self.place = place


class WorkerDied(Exception):
    """The worker process died under this job twice: the job is not run again."""


class _Worker:
    """One worker process (a one-process executor, replaced when its process dies) and the photos it has seen."""

    def __init__(self, number: int, context, in_process: bool, model_threads: int):
        self.number = number
        self.context = context
        self.in_process = in_process
        self.model_threads = model_threads
        self.executor: Executor | None = None
        self.busy = False
        self.seen: deque[int] = deque(maxlen=AFFINITY)

    def submit(self, fn: Callable[..., T], *args: Any):
        if self.executor is None:
            self.executor = (ThreadPoolExecutor(1, initializer=process.lower_priority) if self.in_process else
                             ProcessPoolExecutor(1, mp_context=self.context, initializer=process.start,
                                                initargs=(self.model_threads,)))
        return self.executor.submit(fn, *args)

    def replace(self) -> None:
        executor, self.executor = self.executor, None
        self.seen.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


class WorkerPool:
    def __init__(self, workers: int = 2, *, queue: int | None = None, in_process: bool = False):
        """in_process: the jobs run in threads of this process (the old way, for bench_conversations.py's side by
        side); the service always uses processes."""
        self.workers = workers
        self.queue = queue  # assessments that may wait in memory; None: no bound
        context = None
        if not in_process:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(process.PRELOAD)
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._workers = [_Worker(number, context, in_process, threads) for number in range(workers)]
        # asyncio primitives belong to one loop; tests (and some servers) run several loops in turn.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()
        self._waiting = 0
        self.freed: set[Callable[[], None]] = set()  # called on the job's loop each time a job ends

    # -- admission ---------------------------------------------------------------------------------------------
    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            self._slots[loop] = asyncio.Semaphore(self.workers)
        return self._slots[loop]

    @property
    def busy(self) -> bool:
        """Every worker taken (on this loop): work offered now would wait."""
        return self._semaphore().locked()

    async def run(self, fn: Callable[..., T], *args: Any, on_queued: OnQueued | None = None,
                  bounded: bool = False, photo: tuple[bytes, str | None] | None = None) -> T:
        """fn(*args) in a worker process (fn and args must pickle: a module-level function); when every worker is
        busy, on_queued(place in line) is awaited first. bounded: raise QueueFull instead of waiting behind
        `queue` others. photo: the job prepares this photo, so a worker that prepared it lately is preferred."""
        slots = self._semaphore()
        if slots.locked() and bounded and self.queue is not None and self._waiting >= self.queue:
            raise QueueFull(self._waiting + 1)
        if slots.locked():
            self._waiting += 1
            try:
                if on_queued is not None:
                    await on_queued(self._waiting)
                await slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await slots.acquire()
        mark = _affinity(photo)
        worker = self._pick(mark)
        worker.busy = True
        try:
            return await self._run_on(worker, mark, fn, args)
        finally:
            worker.busy = False
            slots.release()
            for listener in list(self.freed):
                try:
                    listener()
                except Exception as error:  # the job's result must not be lost to a listener's failure
                    log.warning("a listener of the worker pool failed: %s", type(error).__name__)

    async def _run_on(self, worker: _Worker, mark: int | None, fn: Callable[..., T], args: tuple) -> T:
        for run in range(1, RUNS + 1):
            try:
                result = await asyncio.wrap_future(worker.submit(fn, *args))
            except BrokenProcessPool as error:
                worker.replace()
                log.warning("assessment worker %d died under %s; replaced%s", worker.number,
                            getattr(fn, "__name__", "a job"), ", running it again" if run < RUNS else "")
                if run == RUNS:
                    raise WorkerDied(f"worker died twice under {getattr(fn, '__name__', 'a job')}") from error
                continue
            if mark is not None:
                worker.seen.append(mark)
            return result
        raise AssertionError("unreachable")

    def _pick(self, mark: int | None) -> _Worker:
        free = [w for w in self._workers if not w.busy] or self._workers  # another loop's jobs: it waits there
        return next((w for w in free if mark is not None and mark in w.seen), free[0])

    @property
    def idle(self) -> int:
        """Workers that work offered now would find free: none while other jobs wait in line."""
        return max(0, sum(not w.busy for w in self._workers) - self._waiting)

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker (the queue depth)."""
        return self._waiting

    async def warm(self) -> list[str]:
        """Starts every worker and loads its models; the problems found (a model missing), once each."""
        problems = await asyncio.gather(*(self.run(process.warm) for _ in self._workers))
        return sorted({p for p in problems if p})

    def close(self) -> None:
        for worker in self._workers:
            worker.close()


def _affinity(photo: tuple[bytes, str | None] | None) -> int | None:
    """A cheap mark of a photo (its size and ends: hashing 5 MB here would hold the chat process's loop); a
    wrong match only costs the worker preparing the photo again."""
    if photo is None:
        return None
    data, region = photo
    return hash((len(data), data[:4096], data[-4096:], region))
