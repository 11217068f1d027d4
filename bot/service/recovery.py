"""Rows of the work table (storage/repositories/work.py) that nobody is finishing, finished and sent to the patient.

At start-up a replica takes back the rows it held when it died (its REPLICA_ID): assessments run again and their
results are pushed to the patient, a photo check that was cut short asks for the photo again. Then, every
RECOVERY_INTERVAL seconds (and as soon as a job of its worker pool ends), any replica or `acnebot worker` claims queued
rows (a replica's workers were all busy) and rows whose lease ran out (RECOVERY_LEASE: their owner was killed),
one per free worker process. A claim is one UPDATE on indexed columns (FOR UPDATE SKIP LOCKED on PostgreSQL), so
a round costs the same with 100 patients or 100,000, and each row has one owner, whose result is sent once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from bot.delivery import Courier
from conversations.engine import LEASE, Engine, reconnecting
from conversations.messages import Outgoing
from storage import WorkItem
from storage.columns import utcnow
from work.tasks import Tasks

log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, engine: Engine, couriers: dict[str, Courier], *, lease: timedelta = LEASE):
        self.engine = engine
        self.couriers = couriers  # channel -> how to send there without an inbound message
        self.lease = lease
        self._wake = asyncio.Event()  # a job ended (any job of the pool): a worker is free for the next one
        self._running = Tasks("finishing queued work", on_end=self._wake.set)  # claimed rows being finished

    async def take_back(self) -> int:
        """At start-up: the rows this replica held when its previous run stopped."""
        items = await self.engine.db.work.claim_own(self.engine.owner, utcnow(), self.lease)
        return sum(await asyncio.gather(*(self._start(item) for item in items)))

    async def reoffer(self) -> int:
        """Queued rows and rows whose lease ran out, one per free worker."""
        # Rows claimed by earlier rounds count as busy until they end, though they may not have reached a worker.
        free = min(self.engine.pool.idle, self.engine.pool.workers - len(self._running))
        if free <= 0:
            return 0
        items = await self.engine.db.work.claim(self.engine.owner, utcnow(), self.lease, limit=free)
        return sum(await asyncio.gather(*(self._start(item) for item in items)))

    def _start(self, item: WorkItem) -> asyncio.Future:
        async def finish() -> bool:
            messages = await self.engine.finish_item(item)
            if messages:
                await self.push(item.user_id, messages)
            return bool(messages)

        return self._running.start(finish())

    async def push(self, user_id: int, messages: Sequence[Outgoing]) -> None:
        """Sends finished work's replies through the patient's channel (the engine's `deliver`)."""
        user = await reconnecting(lambda: self.engine.db.users.get_user(user_id))
        courier = self.couriers.get(user.channel)
        if courier is None:  # a channel without pushes: the result is in the patient's history
            log.info("user %s: result ready on %s, which takes no pushes", user_id, user.channel)
            return
        try:
            await courier.deliver(user.platform_user_id, messages, purpose="result")
        except Exception as error:  # the result is stored (history); the patient sees it there
            log.warning("user %s: finished work not delivered (%s)", user_id, type(error).__name__)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Re-offer rounds until `stop`, every `interval` seconds and as soon as any job of the worker pool ends
        (the engine's own jobs included: a row queued behind them must not wait for the interval). A round is a task of
        its own, so this loop does not wait for its claim (a slow database) nor for the claimed jobs, which run
        beside the next rounds; a round that fails (a database hiccup) is logged, and the next one tries again.
        On stop, the rounds and the jobs in hand finish."""
        rounds = Tasks("re-offer round")
        heard = self._wake.set
        self.engine.pool.freed.add(heard)
        try:
            while not stop.is_set():
                self._wake.clear()
                rounds.start(self.reoffer())
                await asyncio.sleep(0)  # the round claims before this loop waits for a free worker
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop.wait(), self._wake.wait()), interval)
        finally:
            self.engine.pool.freed.discard(heard)
        await rounds.settle()
        await self._running.settle()
        await self.engine.settle()


async def _first(*waits) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
