"""Work left in patients' stored states (conversations/inflight.py), finished and sent to them.

At start-up a replica takes back what it was running when it died (markers with its REPLICA_ID): assessments run
again and their results are pushed to the patient, a photo check that was cut short asks for the photo again.
Then, every RECOVERY_INTERVAL seconds, any replica takes queued assessments (the queue was full) while it has a
free worker, and work whose replica has been gone longer than the lease. Each marker is claimed under the state's
row lock, so one replica sends each result once.
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

    async def take_back(self) -> int:
        """At start-up: this replica's own markers, left by its previous run."""
        return await self._resolve(lambda m, now: m["owner"] == self.engine.owner or m["status"] == "queued")

    async def reoffer(self) -> int:
        """Queued work while a worker is free, and work of replicas gone for longer than the lease."""
        def ours(m: dict, now: datetime) -> bool:
            expired = datetime.fromisoformat(m["at"]) < now - self.lease
            return expired or (m["status"] == "queued" and not self.engine.assessor.busy)
        return await self._resolve(ours)

    async def _resolve(self, claim: Callable[[dict, datetime], bool]) -> int:
        done = 0
        now = utcnow()
        for state in await self.engine.db.states.states_with(WORK):
            for message_id, marker in sorted(state.data[WORK].items(), key=lambda item: item[1]["at"]):
                if not claim(marker, now):
                    continue
                messages = await self.engine.resume_work(state.user_id, message_id,
                                                         claim=lambda m: claim(m, utcnow()))
                if messages:
                    await self._push(state.user_id, messages)
                    done += 1
        return done

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
        while not stop.is_set():
            try:
                await self.reoffer()
            except Exception as error:  # a database hiccup: try again next round
                log.warning("re-offer round failed: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
