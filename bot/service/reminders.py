"""The reminder dispatcher: a loop every replica may run, sending each due check-in reminder exactly once.

    dispatcher = ReminderDispatcher(db, engine, {"telegram": telegram_transport}, poll_seconds=30)
    dispatcher.start()      # bot/service/app.py does this in cleanup_ctx
    await dispatcher.stop() # finishes the sends in hand; the rest of the batch waits for its lease to end

Each poll claims a batch (storage: SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, the process lock on SQLite;
a claim is a lease, so a dispatcher that dies leaves its reminders to the others), and for each reminder:
patient gone or not consenting -> stopped; quiet hours -> postponed to 09:00 local; else rendered by
Engine.reminder and pushed by the Courier of the patient's channel. Sent -> next due time by the cadence;
DeliveryFailed -> retried with exponential backoff, given up after `max_attempts` with a log line;
Undeliverable (blocked, unsubscribed) -> stopped. When nothing is due a poll costs one query.
Logs carry reminder and patient ids, never what a message says.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from bot.delivery import Courier, DeliveryFailed, Undeliverable
from conversations import Engine
from conversations.schedule import CADENCE_DAYS, next_due, outside_quiet_hours
from storage import Database, NotFound
from storage.columns import utcnow
from storage.domain import Reminder, User
from storage.repositories.reminders import DEFAULT_LEASE

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Wait = Callable[[float], Awaitable[None]]

BATCH = 50  # claimed per query; a full batch is followed by the next one at once
CONCURRENT_SENDS = 8  # of one batch, at once
BACKOFF = timedelta(minutes=1)  # first retry; doubled for each further one
STOP_TIMEOUT = 30.0  # seconds stop() waits for the sends in hand
LEASE_MARGIN = timedelta(minutes=1)  # longer than one send may take (the Telegram transport's timeouts: ~50 s)


class ReminderDispatcher:
    def __init__(self, db: Database, engine: Engine, couriers: Mapping[str, Courier], *,
                 poll_seconds: float = 30.0, max_attempts: int = 5, batch: int = BATCH,
                 concurrency: int = CONCURRENT_SENDS, backoff: timedelta = BACKOFF,
                 lease: timedelta = DEFAULT_LEASE, now: Clock = utcnow, wait: Wait | None = None):
        self.db, self.engine = db, engine
        self.couriers = couriers  # the application's own dict: a transport registered later counts too
        self.poll_seconds, self.max_attempts, self.batch = poll_seconds, max_attempts, batch
        self.concurrency, self.backoff, self.lease = concurrency, backoff, lease
        self.now = now
        self.wait = wait or self._sleep
        self.sent = 0  # reminders this dispatcher delivered (benchmarks, tests)
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # -- the loop ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="reminder-dispatcher")
        log.info("reminder dispatcher started for %s, polling every %g s", ", ".join(sorted(self.couriers)),
                 self.poll_seconds)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def wake(self) -> None:
        """Poll now instead of at the end of the interval."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                claimed = await self.run_once()
            except Exception as error:  # the database is away for a moment: the next poll tries again
                log.warning("reminder poll failed: %s", type(error).__name__)
                claimed = 0
            if claimed < self.batch and not self._stopping:
                await self.wait(self.poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def run_once(self) -> int:
        """Claims one batch of due reminders and sends them; returns how many were claimed."""
        claimed = await self.db.reminders.claim_due(self.now(), limit=self.batch, lease=self.lease,
                                                    channels=list(self.couriers))
        await self.send_claimed(claimed)
        return len(claimed)

    async def send_claimed(self, claimed: list[Reminder]) -> None:
        """Sends what this dispatcher claimed, a few at once; one whose lease is about to end is left to be
        claimed again (a slow batch must not race another replica that takes it over)."""
        slots = asyncio.Semaphore(self.concurrency)

        async def one(reminder: Reminder) -> None:
            async with slots:
                if self._stopping or self.now() >= reminder.claimed_until - LEASE_MARGIN:
                    return  # left claimed: taken again when its lease ends, here or by another replica
                try:
                    await self.dispatch(reminder)
                except Exception as error:  # a bug or the database: the lease brings it back
                    log.error("reminder %s: dispatch failed: %s", reminder.id, type(error).__name__, exc_info=True)

        await asyncio.gather(*(one(r) for r in claimed))

    # -- one reminder ----------------------------------------------------------------------------------------------
    async def dispatch(self, reminder: Reminder) -> None:
        now = self.now()
        try:
            user = await self.db.users.get_user(reminder.user_id)
        except NotFound:  # erased since the claim; the cascade removed the reminder with the patient
            return
        if user.consent != "accepted" or reminder.cadence not in CADENCE_DAYS:
            await self.db.reminders.stop_reminder(user.id)
            log.info("reminder %s: patient %s has not consented; stopped", reminder.id, user.id)
            return
        courier = self.couriers.get(user.channel)
        if courier is None:
            log.warning("reminder %s: no courier for channel %s; skipped until the next one", reminder.id,
                        user.channel)
            await self.db.reminders.postpone(reminder.id, self._next(reminder, user, now))
            return
        allowed = outside_quiet_hours(now, reminder.time_of_day, user.timezone)
        if allowed > now:  # due during the night (a snooze, or this dispatcher was down): wait for morning
            await self.db.reminders.postpone(reminder.id, allowed)
            return
        messages = await self.engine.reminder(user.id, now=now)
        if not messages:
            await self.db.reminders.stop_reminder(user.id)
            return
        try:
            await courier.deliver(user.platform_user_id, messages, purpose="reminder")
        except Undeliverable as error:
            await self.db.reminders.stop_reminder(user.id)
            log.info("reminder %s: patient %s unreachable on %s (%s); reminders stopped", reminder.id, user.id,
                     user.channel, error)
        except DeliveryFailed as error:
            await self._failed(reminder, user, now, f"{type(error).__name__}: {error}")
        else:
            await self.db.reminders.mark_sent(reminder.id, self._next(reminder, user, now))
            self.sent += 1

    async def _failed(self, reminder: Reminder, user: User, now: datetime, error: str) -> None:
        if reminder.attempts >= self.max_attempts:
            await self.db.reminders.give_up(reminder.id, error)
            log.warning("reminder %s for patient %s given up after %d tries: %s", reminder.id, user.id,
                        reminder.attempts, error)
            return
        retry = outside_quiet_hours(now + self.backoff * 2 ** (reminder.attempts - 1), reminder.time_of_day,
                                    user.timezone)
        await self.db.reminders.mark_failed(reminder.id, error, retry)
        log.info("reminder %s: try %d failed (%s); again at %s", reminder.id, reminder.attempts, error,
                 retry.isoformat(timespec="seconds"))

    @staticmethod
    def _next(reminder: Reminder, user: User, now: datetime) -> datetime:
        return next_due(now, reminder.cadence, reminder.time_of_day, user.timezone, scheduled=reminder.next_due_at)
