"""Messages pushed to a web-chat patient outside a reply (the result of slow work, a staff member's answer during a
handover): the web chat's Courier (bot/delivery.py) files them here, and the page collects them (GET /api/pushed,
polled; a session's next POST streams them first).

Memory only, like the pictures: the web chat is the single-process local demo, and every pushed message is in
the transcript (message log) already (an export that aged out can be asked for again).
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from conversations.messages import Outgoing

CHANNEL = "webchat"


class Outbox:
    """Bounded three ways, as the ImageStore is: an age limit, a count per session (its oldest go first) and a
    byte total over all sessions (pictures and export files; the oldest session's go first). Every put sweeps
    the sessions whose messages have all aged out, so a session that never comes back does not keep its
    messages (an export ZIP of health data among them) for as long as the process runs."""

    def __init__(self, *, per_session: int = 50, max_bytes: int = 64 * 1024 * 1024, ttl_s: float = 7 * 24 * 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self.per_session, self.max_bytes, self.ttl_s, self._clock = per_session, max_bytes, ttl_s, clock
        # session -> its waiting messages, oldest first; sessions in the order they were last put to
        self._waiting: OrderedDict[str, deque[tuple[float, Outgoing]]] = OrderedDict()
        self._bytes = 0

    def put(self, owner: str, messages: Sequence[Outgoing]) -> None:
        box = self._waiting.setdefault(owner, deque())
        self._waiting.move_to_end(owner)
        for message in messages:
            box.append((self._clock(), message))
            self._bytes += _size(message)
        while len(box) > self.per_session:
            self._bytes -= _size(box.popleft()[1])
        self._sweep()

    def take(self, owner: str) -> list[Outgoing]:
        """Everything waiting for this session, oldest first; then nothing until more comes."""
        self._sweep()
        box = self._waiting.pop(owner, deque())
        self._bytes -= sum(_size(m) for _, m in box)
        return [m for _, m in box]

    def __len__(self) -> int:
        return sum(len(box) for box in self._waiting.values())

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def _sweep(self) -> None:
        cutoff = self._clock() - self.ttl_s
        for owner, box in list(self._waiting.items()):  # the session put to longest ago first
            while box and (box[0][0] <= cutoff or self._bytes > self.max_bytes):
                self._bytes -= _size(box.popleft()[1])
            if not box:
                del self._waiting[owner]


def _size(message: Outgoing) -> int:
    return len(getattr(message, "data", b""))


class WebChatCourier:
    channel = CHANNEL

    def __init__(self, outbox: Outbox):
        self.outbox = outbox

    async def deliver(self, platform_user_id: str, messages: Sequence[Outgoing], *, purpose: str) -> None:
        self.outbox.put(platform_user_id, messages)
