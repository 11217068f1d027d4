"""The pipeline off the event loop: a bounded thread pool (onnxruntime, OpenCV and MediaPipe release the GIL),
so the loop keeps answering other patients while photos are checked and assessed.

Admission is by an asyncio semaphore with one slot per worker: a job that finds every worker busy waits its turn
(nothing is dropped) and its caller is told its place in the line, so the patient can be told too. Assessments
wait in memory only while the line is shorter than `queue` (ASSESSMENT_QUEUE); past it `QueueFull` says so, and
the engine leaves the work queued in the patient's stored state for the re-offer loop (bot/recovery.py).
"""
from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from conversations.pictures import VisitPhoto, side_by_side
from pipeline.assess import PreparedPhoto, assess, prepare
from pipeline.intake import IntakeError
from pipeline.pose import pose_of
from pipeline.render import annotate, trend_chart
from pipeline.report import assessment_json
from pipeline.types import Metadata

T = TypeVar("T")
# Pipeline threads run at a lower CPU priority than the event loop's thread: on a full machine the loop
# otherwise gets a third of a core and other patients' text turns wait for CPU (bench_conversations.py:
# p50 of chat turns during 20 assessments fell from 578 ms to 18 ms on SQLite with niceness +10).
WORKER_NICENESS = 10
OnQueued = Callable[[int], Awaitable[None]]


class QueueFull(Exception):
    """Every worker is busy and `queue` jobs already wait: this one waits in the database instead."""

    def __init__(self, place: int):
        super().__init__(f"assessment queue full; place {place}")
        self.place = place


@dataclass(frozen=True)
class PhotoVerdict:
    """The immediate quality check of one photo. codes: quality codes, or "intake.<code>" for unreadable files;
    pose: pipeline.pose.Pose.to_dict() of a usable full-face photo, else None."""

    ok: bool
    codes: tuple[str, ...] = ()
    rotated: int = 0
    pose: dict[str, float] | None = None


@dataclass(frozen=True)
class Outcome:
    """One visit assessed: the stable JSON (pipeline.report.assessment_json) and an annotated JPEG per photo."""

    result: dict[str, Any]
    annotated: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return bool(self.result.get("quality", {}).get("ok"))


class Assessor:
    def __init__(self, workers: int = 2, *, cache_size: int = 8, queue: int | None = None):
        self.workers = workers
        self.queue = queue  # assessments that may wait in memory; None: no bound
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acnebot-assess",
                                        initializer=_lower_priority)
        # asyncio primitives belong to one loop; tests (and some servers) run several loops in turn.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()
        self._waiting = 0
        self._cache: OrderedDict[tuple[str, str | None], PreparedPhoto] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

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
                  bounded: bool = False) -> T:
        """fn(*args) in a worker thread; when every worker is busy, on_queued(place in line) is awaited first.
        bounded: raise QueueFull instead of waiting behind `queue` others."""
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
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            slots.release()

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker (the queue depth)."""
        return self._waiting

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- jobs ----------------------------------------------------------------------------------------------------
    async def check_photo(self, data: bytes, region: str | None, on_queued: OnQueued | None = None) -> PhotoVerdict:
        return await self.run(self._check, data, region, on_queued=on_queued)

    async def assess(self, photos: Sequence[tuple[bytes, str | None]], metadata: Metadata, locale: str,
                     on_queued: OnQueued | None = None) -> Outcome:
        return await self.run(self._assess, list(photos), metadata, locale, on_queued=on_queued, bounded=True)

    async def trend_chart(self, points: Sequence[tuple[datetime, float]]) -> bytes:
        return await self.run(trend_chart, list(points))

    async def side_by_side(self, left: VisitPhoto, right: VisitPhoto) -> bytes:
        return await self.run(side_by_side, left, right)

    def _prepared(self, data: bytes, region: str | None) -> PreparedPhoto:
        key = (hashlib.sha256(data).hexdigest(), region)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        prepared = prepare(data, region)
        with self._cache_lock:
            self._cache[key] = prepared
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prepared

    def _check(self, data: bytes, region: str | None) -> PhotoVerdict:
        try:
            prepared = self._prepared(data, region)
        except IntakeError as error:
            return PhotoVerdict(False, (f"intake.{error.code}",))
        pose = pose_of(prepared) if prepared.quality.ok and region is None else None
        return PhotoVerdict(prepared.quality.ok, tuple(r.code for r in prepared.quality.reasons), prepared.rotated,
                            pose.to_dict() if pose is not None else None)

    def _assess(self, photos: list[tuple[bytes, str | None]], metadata: Metadata, locale: str) -> Outcome:
        prepared = [self._prepared(data, region) for data, region in photos]
        result = assess(prepared, metadata, locale=locale)
        if not result.ok:
            return Outcome(assessment_json(result))
        pictures = tuple(annotate(p.photo.pixels, p.view, [l for l in result.lesions if l.photo == i])
                         for i, p in enumerate(prepared))
        return Outcome(assessment_json(result), pictures)


def _lower_priority() -> None:
    """Lower this worker thread's priority (Linux applies niceness per thread; threads it starts, such as
    onnxruntime's, inherit it). Elsewhere, or without permission, it stays as it is."""
    try:
        import os

        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS))
    except (AttributeError, OSError):
        pass
