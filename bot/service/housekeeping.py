"""Housekeeping, in every replica: photos past PHOTO_RETENTION_DAYS, old processed-message marks and expired
cache rows are deleted every HOUSEKEEPING_INTERVAL_S seconds (and once at start).

Every deletion is a plain DELETE ... WHERE older than: replicas running it at once delete each row once and
otherwise find nothing. A photo's assessment keeps its numbers, and its message-log row stays with the photo
link set to NULL (ON DELETE SET NULL).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from aiohttp import web

from storage import Database
from storage.columns import utcnow

log = logging.getLogger(__name__)
PROCESSED_MARK_DAYS = 7  # platforms redeliver for a day at most; a week is plenty

Clock = Callable[[], datetime]


class Housekeeping:
    def __init__(self, db: Database, *, photo_retention_days: int, interval_s: float = 3600,
                 clock: Clock = utcnow):
        self.db, self.photo_retention_days, self.interval_s, self.clock = db, photo_retention_days, interval_s, clock
        self.swept = asyncio.Event()  # set after each sweep (tests wait on it instead of sleeping)
        self.last: dict[str, int] = {}

    async def sweep(self) -> dict[str, int]:
        """One round; returns the rows deleted per kind."""
        now = self.clock()
        done = {
            "photos": await purge_photos(self.db, self.photo_retention_days, now),
            "processed_messages": await self.db.dedup.prune_processed(now - timedelta(days=PROCESSED_MARK_DAYS)),
            "cache": await self.db.cache.purge_expired(now),
        }
        if any(done.values()):
            log.info("housekeeping deleted %s", ", ".join(f"{n} {kind}" for kind, n in done.items() if n))
        self.last = done
        return done

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as error:  # the database may be restarting: try again next round
                log.warning("housekeeping failed: %s", type(error).__name__)
            self.swept.set()
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except TimeoutError:
                pass


async def purge_photos(db: Database, older_than_days: int, now: datetime | None = None) -> int:
    """Deletes photos stored more than `older_than_days` days ago (`acnebot purge-photos` too)."""
    return await db.photos.delete_photos_before((now or utcnow()) - timedelta(days=older_than_days))


HOUSEKEEPING = web.AppKey("housekeeping", Housekeeping)


async def run_while_serving(app: web.Application) -> AsyncIterator[None]:
    """A cleanup_ctx entry: app[HOUSEKEEPING]'s loop runs while the application does."""
    stop = asyncio.Event()
    task = asyncio.create_task(app[HOUSEKEEPING].run(stop), name="acnebot-housekeeping")
    yield
    stop.set()
    await task
