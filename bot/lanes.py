"""One patient's messages in order, on every transport (Telegram's update processor, WeChat's callback, the web
chat's POSTs): a turn waits for the patient's earlier turns and for the slow work they handed to the engine
(`Engine.handle(..., detached=keep)`), which goes on after its turn has answered. Different patients never wait
for each other, and a waiting turn holds nothing but its request (on Telegram, no update slot).

    lanes = Lanes()
    replies = await lanes.run(patient, lambda keep: engine.handle(event, detached=keep))
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
Keep = Callable[[asyncio.Task], None]


class Lanes:
    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future] = {}  # a patient -> done once their latest turn and its work are
        self._gates: set[asyncio.Task] = set()

    def busy(self, key: str) -> bool:
        """Whether a turn of this patient, or work one of their turns left, is still running."""
        return key in self._last

    def pending(self) -> set[asyncio.Future]:
        """Done once everything running now is: each patient's latest turn ends after their earlier ones."""
        return set(self._last.values())

    async def run(self, key: str, turn: Callable[[Keep], Awaitable[T]], *,
                  ended: Callable[[], None] | None = None) -> T:
        """turn(keep) once the patient's earlier turns and their work are done; returns its answer as soon as it has
        one. `ended` is called when the work it kept is done as well (the patient's next turn may start)."""
        before = self._last.get(key)
        done = asyncio.get_running_loop().create_future()
        self._last[key] = done
        kept: list[asyncio.Task] = []
        try:
            if before is not None:
                await asyncio.wait([before])  # (not `await before`: a cancelled waiter would cancel it)
            return await turn(kept.append)
        finally:
            self._release([before, *kept], key, done, ended)

    def _release(self, waits: list[asyncio.Future | None], key: str, done: asyncio.Future,
                 ended: Callable[[], None] | None) -> None:
        def release(_: object = None) -> None:
            if self._last.get(key) is done:
                del self._last[key]
            done.set_result(None)
            if ended is not None:
                ended()

        running = [w for w in waits if w is not None and not w.done()]
        if not running:
            return release()
        gate = asyncio.ensure_future(asyncio.wait(running))
        self._gates.add(gate)
        gate.add_done_callback(self._gates.discard)
        gate.add_done_callback(release)
