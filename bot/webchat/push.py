"""Messages pushed to a web-chat patient outside a reply (the result of slow work, a staff member's answer during a
handover): the web chat's Courier (bot/delivery.py) files them here, and the page collects them (GET /api/pushed,
polled; a session's next POST streams them first).

Memory only, like the pictures: the web chat is the single-process local demo, and every pushed message is in
the transcript (message log) already. Bounded per session (the oldest go first) and by age.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

from conversations.messages import Outgoing

CHANNEL = "webchat"


class Outbox:
    def __init__(self, *, per_session: int = 50, ttl_s: float = 7 * 24 * 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self.per_session, self.ttl_s, self._clock = per_session, ttl_s, clock
        self._waiting: dict[str, deque[tuple[float, Outgoing]]] = {}

    def put(self, owner: str, messages: Sequence[Outgoing]) -> None:
        box = self._waiting.setdefault(owner, deque(maxlen=self.per_session))
        box.extend((self._clock(), m) for m in messages)

    def take(self, owner: str) -> list[Outgoing]:
        """Everything waiting for this session, oldest first; then nothing until more comes."""
        cutoff = self._clock() - self.ttl_s
        return [m for at, m in self._waiting.pop(owner, ()) if at > cutoff]


class WebChatCourier:
    channel = CHANNEL

    def __init__(self, outbox: Outbox):
        self.outbox = outbox

    async def deliver(self, platform_user_id: str, messages: Sequence[Outgoing], *, purpose: str) -> None:
        self.outbox.put(platform_user_id, messages)
