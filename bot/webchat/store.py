"""Pictures the bot sent to a web-chat session, kept for a short while so that session's page can fetch them.

Each picture is filed under its owner (the session's user id) and a random id; `get` answers only the owner, so a
URL copied into another browser, or guessed, finds nothing. Bounded three ways: an age limit, a count per
session (its oldest pictures go first) and a byte total over all sessions (the oldest pictures anywhere go first).
Memory only, on purpose: these are copies of what the chat already showed, not records; a picture that has gone
is shown as "expired" and the patient can ask for it again (My history re-renders from the database).
"""
from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StoredImage:
    owner: str
    data: bytes = field(repr=False)
    mime_type: str
    filename: str
    created: float


class ImageStore:
    def __init__(self, *, per_session: int = 24, max_bytes: int = 64 * 1024 * 1024, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self.per_session, self.max_bytes, self.ttl_s, self._clock = per_session, max_bytes, ttl_s, clock
        self._images: OrderedDict[str, StoredImage] = OrderedDict()  # oldest first
        self._by_owner: dict[str, deque[str]] = {}
        self._bytes = 0

    def put(self, owner: str, data: bytes, mime_type: str, filename: str = "image.jpg") -> str:
        """Files a picture for `owner`; returns its id (unguessable: 128 random bits)."""
        image_id = secrets.token_urlsafe(16)
        self._images[image_id] = StoredImage(owner, data, mime_type, filename, self._clock())
        self._by_owner.setdefault(owner, deque()).append(image_id)
        self._bytes += len(data)
        self._evict(owner)
        return image_id

    def get(self, owner: str, image_id: str) -> StoredImage | None:
        self._expire()
        image = self._images.get(image_id)
        return image if image is not None and image.owner == owner else None

    def __len__(self) -> int:
        return len(self._images)

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def _evict(self, owner: str) -> None:
        self._expire()
        mine = self._by_owner.get(owner)
        while mine and len(mine) > self.per_session:
            self._drop(mine[0])
        while self._bytes > self.max_bytes and len(self._images) > 1:
            self._drop(next(iter(self._images)))

    def _expire(self) -> None:
        cutoff = self._clock() - self.ttl_s
        while self._images:
            oldest_id, oldest = next(iter(self._images.items()))
            if oldest.created > cutoff:
                break
            self._drop(oldest_id)

    def _drop(self, image_id: str) -> None:
        image = self._images.pop(image_id)
        self._bytes -= len(image.data)
        mine = self._by_owner[image.owner]
        mine.remove(image_id)
        if not mine:
            del self._by_owner[image.owner]
