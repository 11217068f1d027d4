"""Work left in patients' stored states (conversations/inflight.py), finished and sent to them.

At start-up a replica takes back what it was running when it died (markers with its REPLICA_ID): assessments run
again and their results are pushed to the patient, a photo check that was cut short asks for the photo again.
Then, every RECOVERY_INTERVAL seconds (and as soon as one of its jobs ends), any replica or `acnebot worker`
takes queued assessments (the queue was full) while it has a free worker process, and work whose owner has been
gone longer than the lease (RECOVERY_LEASE: a worker killed under it). Each marker is claimed under the state's
row lock, so one owner runs each job and sends its result once; the claimed jobs run side by side, one per free
worker process.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.delivery import Courier
from conversations import Engine
from conversations.inflight import WORK
from conversations.messages import Outgoing
from storage.columns import utcnow

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)  # a marker this old whose replica never came back is anybody's


class Recovery:
    def __init__(self, engine: Engine, couriers: dict[str, Courier], *, lease: timedelta = LEASE):
        self.engine = engine
        self.couriers = couriers  # channel -> how to send there without an inbound message
        self.lease = lease
        self._running: set[asyncio.Task] = set()  # claimed jobs being run and delivered
        self._wake = asyncio.Event()  # a job ended: a worker is free for the next one

    async def take_back(self) -> int:
        """At start-up: this replica's own markers, left by its previous run."""
        return await self._resolve(lambda m, now: m["owner"] == self.engine.owner or m["status"] == "queued",
                                   bounded=False)

    async def reoffer(self) -> int:
        """Queued work while a worker is free, and work of replicas gone for longer than the lease."""
        def ours(m: dict, now: datetime) -> bool:
            expired = datetime.fromisoformat(m["at"]) < now - self.lease
            return expired or (m["status"] == "queued" and not self.engine.assessor.busy)
        return await self._resolve(ours)

    def _free(self) -> bool:
        return len(self._running) < self.engine.assessor.workers

    async def _resolve(self, claim: Callable[[dict, datetime], bool], *, bounded: bool = True) -> int:
        """Claims what `claim` accepts (bounded: one job per free worker; at start-up all of this replica's own),
        runs the jobs side by side and returns how many results were sent once they all have ended."""
        started: list[asyncio.Task] = []
        now = utcnow()
        markers = ((state.user_id, message_id, marker) for state in await self.engine.db.states.states_with(WORK)
                   for message_id, marker in sorted(state.data[WORK].items(), key=lambda item: item[1]["at"]))
        for user_id, message_id, marker in markers:
            if bounded and not self._free():  # every worker has a job: the rest wait for the next round
                break
            if claim(marker, now):
                started.append(self._start(user_id, message_id, claim))
        return sum(await asyncio.gather(*started))

    def _start(self, user_id: int, message_id: str, claim: Callable[[dict, datetime], bool]) -> asyncio.Task:
        async def finish() -> bool:
            messages = await self.engine.resume_work(user_id, message_id, claim=lambda m: claim(m, utcnow()))
            if messages:
                await self._push(user_id, messages)
            return bool(messages)

        task = asyncio.create_task(finish())
        self._running.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.warning("finishing queued work failed: %s", type(task.exception()).__name__)

    async def _push(self, user_id: int, messages: Sequence[Outgoing]) -> None:
        user = await self.engine.db.users.get_user(user_id)
        courier = self.couriers.get(user.channel)
        if courier is None:  # a channel without pushes: the result is in the patient's history
            log.info("user %s: result ready on %s, which takes no pushes", user_id, user.channel)
            return
        try:
            await courier.deliver(user.platform_user_id, messages, purpose="result")
        except Exception as error:  # the result is stored (history); the patient sees it there
            log.warning("user %s: finished work not delivered (%s)", user_id, type(error).__name__)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Re-offer rounds until `stop`: each claims what free workers can take and does not wait for those jobs;
        a job that ends starts the next round at once. On stop, the jobs in hand finish."""
        rounds: set[asyncio.Task] = set()
        while not stop.is_set():
            self._wake.clear()
            round_ = asyncio.create_task(self.reoffer())
            rounds.add(round_)
            round_.add_done_callback(self._round_ended(rounds))
            await asyncio.sleep(0)  # the round claims before this loop waits for a free worker
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop.wait(), self._wake.wait()), interval)
        if rounds:
            await asyncio.wait(rounds)

    @staticmethod
    def _round_ended(rounds: set[asyncio.Task]):
        def ended(task: asyncio.Task) -> None:
            rounds.discard(task)
            if not task.cancelled() and task.exception() is not None:  # a database hiccup: the next round
                log.warning("re-offer round failed: %s", type(task.exception()).__name__)
        return ended


async def _first(*waits) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
