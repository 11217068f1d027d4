"""`Engine.handle(event) -> [Outgoing]`: one platform message through dedup, the patient's state and the flows.

    engine = Engine(db, WorkerPool())
    replies = await engine.handle(InboundEvent("telegram", "42", "1001", "command", "/start", locale_hint="zh"))

A turn is one transaction: mark the message processed (a redelivery returns []), lock the patient's state row
(PostgreSQL: SELECT ... FOR UPDATE, so replicas take turns per patient), run the step, save the state and the
message log. A step that needs slow work (a photo check, an assessment, a picture) writes a row of the work table
(storage/repositories/work.py) in that same transaction, owned by this replica; the job then runs in the worker
pool with no transaction open (an SQLite transaction blocks every other patient), and a second short transaction
reloads the state, runs the step's continuation and removes the row. Replies produced before the work (Typing,
"analysing…") go to `on_progress` right away when the caller gives one, otherwise they lead the returned list.
With `detached` the turn ends there: the work finishes in the background and its replies reach the patient
through `deliver` (the push path reminders use), so a transport's update slot is free at once.
A row left behind (a restart, kill -9) or queued (every worker busy: the patient is told their place) is claimed
again by any replica or `acnebot worker` (`finish_item`, called by bot/service/recovery.py).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from conversations import flows
from conversations.flows.handover import HandoverNotHeld
from conversations.flows.turn import Turn, Work
from conversations.i18n import resolve_locale, t
from conversations.jobs import JOBS, JobContext
from conversations.limits import MESSAGE, REFUSALS, RateLimits
from conversations.messages import Choices, File, Image, InboundEvent, Outgoing, Text, Typing
from conversations.observer import Observer, job_outcome
from storage import ConversationState, Database, NotFound, StaleState, User, WorkItem
from storage.columns import utcnow
from work.pool import QueueFull, WorkerPool
from work.tasks import Tasks

log = logging.getLogger(__name__)
T = TypeVar("T")
OnProgress = Callable[[list[Outgoing]], Awaitable[None]]
Deliver = Callable[[int, Sequence[Outgoing]], Awaitable[None]]  # (user id, messages): a push
LEASE = timedelta(minutes=10)  # a work row whose owner has not finished it by then is anybody's
RESUMABLE = {"assess"}  # every input is in the database; a photo check's photo is not (kept only once checked)
ARGS_KEPT = {"assess", "check_photo"}  # args stored in the row: plain JSON, needed to resume or to clean up
ATTEMPTS = 3  # a turn that lost a race on the state row (StaleState) is handled again from the start
# A transaction whose connection was lost (killed, failed over) rolled back and runs again on a new one. A
# server that drops connections in bursts can take several in a row: give up only after a few seconds, never
# losing a finished assessment to three unlucky reconnects.
RECONNECTS = 6
RECONNECT_PAUSE = 0.05  # seconds before the first retry, doubling each time (1.5 s in all)


class Engine:
    def __init__(self, db: Database, pool: WorkerPool, *, photo_retention_days: int = 180, owner: str = "local",
                 limits: RateLimits | None = None, observer: Observer | None = None, lease: timedelta = LEASE,
                 deliver: Deliver | None = None):
        self.db = db
        self.observer = observer or Observer()
        self.limits = limits  # None: no rate limits (tests, the local demo's caller decides)
        self.pool = pool
        self.photo_retention_days = photo_retention_days
        self.owner = owner  # this replica's name on the work rows it holds (REPLICA_ID)
        self.lease = lease
        self.deliver = deliver  # the push path for detached work's replies (the service sets it)
        self._detached = Tasks("finishing detached work")

    async def handle(self, event: InboundEvent, on_progress: OnProgress | None = None, *,
                     detached: Callable[[asyncio.Task], None] | None = None) -> list[Outgoing]:
        """The turn's replies. With `detached` (and a push path, `deliver`), slow work does not keep the caller:
        the replies before it are returned, the work finishes in a task handed to `detached` (a transport keeps
        the patient's next messages behind it), and its replies are pushed."""
        started = time.perf_counter()
        races = reconnects = 0
        while True:
            try:
                replies = await self._handle(event, on_progress, detached)
                self.observer.turn_handled(event.channel, event.kind, time.perf_counter() - started)
                return replies
            except StaleState:
                races += 1
                if races == ATTEMPTS:
                    raise
                log.info("state changed under message %s/%s; handling it again", event.channel, event.message_id)
            except _FirstTransactionLost as error:
                reconnects += 1
                if reconnects == RECONNECTS:
                    raise error.__cause__ or error
                log.info("database connection lost under message %s/%s; handling it again", event.channel,
                         event.message_id)
                await _reconnect_pause(reconnects)

    async def _handle(self, event: InboundEvent, on_progress: OnProgress | None,
                      detached: Callable[[asyncio.Task], None] | None) -> list[Outgoing]:
        replies: list[Outgoing] = []
        try:
            turn, user, item, early = await self._first_transaction(event)
        except DBAPIError as error:
            if _disconnected(error):  # rolled back, dedup mark included: the whole turn can run again
                raise _FirstTransactionLost() from error
            raise
        if early is not None:
            return early
        log.debug("user %s %s -> step %s", user.id, event.kind, turn.step)
        if item is None:
            return turn.out
        # A photo is logged once its check is done, with the id it is stored under (if it is kept).
        inbound_logged = event.kind != "photo"
        if detached is not None and self.deliver is not None:
            if on_progress is not None:  # said before the work starts, so its pushed replies come after these
                await on_progress(turn.out)
            else:
                replies.extend(turn.out)
            detached(self._detach(item, self._finish_or_requeue(item, turn.work, event, turn.locale, inbound_logged,
                                                                lambda messages: self._push(user.id, messages))))
            return replies

        async def emit(messages: list[Outgoing]) -> None:
            if on_progress is not None and messages:
                await on_progress(messages)
            else:
                replies.extend(messages)

        await emit(turn.out)
        replies.extend(await self._finish_or_requeue(item, turn.work, event, turn.locale, inbound_logged, emit))
        return replies

    async def _finish_or_requeue(self, item: WorkItem, *args: object) -> list[Outgoing]:
        """_finish; when it fails (the database went away for longer than the retries), the row goes back to the
        queue at once, so the next recovery round finishes it rather than the lease's end."""
        try:
            return await self._finish(item, *args)
        except Exception:
            await reconnecting(lambda: self.db.work.requeue(item.id, self.owner))
            raise

    async def _finish(self, item: WorkItem, work: Work, event: InboundEvent | None, locale: str,
                      inbound_logged: bool, emit: OnProgress) -> list[Outgoing]:
        """Runs the row's job and its continuation (and the work that asks for, in turn); the continuation's
        replies. Nothing when the row was taken over by another owner or the patient erased their data."""
        user_id = item.user_id
        while True:
            notes: list[Outgoing] = []

            async def queued(place: int, locale: str = locale) -> None:
                note = Text(t(locale, "busy", n=place))
                notes.append(note)
                await emit([note])

            try:
                outcome = await self._job(work, JobContext(self.db, self.pool, user_id, event, queued))
            except QueueFull as full:  # the row waits for any owner with a free worker; the result is pushed then
                return await self._requeue(item, full.place)

            async def continuation() -> tuple[Turn, WorkItem | None] | None:
                async with self.db.transaction():
                    turn, state = await self._locked_turn(user_id, event)
                    if turn is None or not await self.db.work.finish(item.id, self.owner):
                        return None  # erased, or another owner took it over after the lease
                    await flows.resume(turn, work, outcome)
                    following = await self._add_work(turn, item.message_id)
                    await self._store(turn, state, log_inbound=not inbound_logged and turn.work is None, notes=notes)
                return turn, following

            try:  # rolled back on a lost connection: the continuation runs again on a new one
                finished = await reconnecting(continuation, f"finishing user {user_id}'s work")
            except NotFound:  # the patient erased their data while the work ran
                return []
            if finished is None:
                return []
            turn, following = finished
            inbound_logged = inbound_logged or turn.work is None
            if following is None:
                return turn.out
            await emit(turn.out)
            item, work, locale = following, turn.work, turn.locale

    async def _job(self, work: Work, ctx: JobContext) -> object:
        """The job's result, or the exception that ended it (its continuation tells the patient). Jobs only read
        the database, so one that lost its connection (killed, the server restarted) simply runs again."""
        started = time.perf_counter()
        outcome = await self._run_job(work, ctx)
        self.observer.job_done(work.job, job_outcome(outcome), time.perf_counter() - started)
        return outcome

    async def _run_job(self, work: Work, ctx: JobContext) -> object:
        for attempt in range(1, RECONNECTS + 1):
            try:
                return await JOBS[work.job](ctx, work.args)
            except QueueFull:
                raise
            except DBAPIError as error:
                if attempt == RECONNECTS:
                    return error
                log.warning("job %s for user %s: database connection lost; trying again", work.job, ctx.user_id)
                await _reconnect_pause(attempt)
            except Exception as error:
                log.warning("job %s for user %s failed: %s", work.job, ctx.user_id, type(error).__name__)
                return error
        raise AssertionError("unreachable")

    async def _first_transaction(self, event: InboundEvent) -> tuple[Turn, User, WorkItem | None,
                                                                     list[Outgoing] | None]:
        """Dedup, the patient's locked state, the step: (turn, user, the work row it asked for, the whole answer
        when the turn ends without work here: a duplicate or a refusal). A text, command or button waits for its
        answer ahead of slow work's bookkeeping; a photo, which is answered "Analysing…" anyway, does not."""
        async with self.db.transaction(urgent=event.kind != "photo"):
            user = await self.db.users.find_user(event.channel, event.user_id)
            consented = user is not None and user.consent == "accepted"
            # Before consent the mark carries no user id, so nothing links the patient to it.
            if not await self.db.dedup.mark_processed(event.channel, event.message_id,
                                                      user.id if consented else None):
                log.debug("duplicate message %s/%s ignored", event.channel, event.message_id)
                return None, None, None, []
            first_contact = user is None
            if first_contact:  # the row that will hold the consent answer
                hint = resolve_locale(event.locale_hint) if event.locale_hint else None
                user = await self.db.users.get_or_create_user(event.channel, event.user_id, hint)
            state = (await self.db.states.load_state(user.id, for_update=True) if consented
                     else ConversationState(user_id=user.id))
            turn = self._turn(user, event, state)
            turn.first_contact = first_contact
            if consented and not await self._allowed(turn, MESSAGE):
                return turn, user, None, turn.out  # nothing but the dedup mark and the bucket is stored
            await flows.run(turn)
            item = await self._add_work(turn, event.message_id)
            await self._store(turn, state, log_inbound=not (item is not None and event.kind == "photo"))
        return turn, user, item, None

    async def _add_work(self, turn: Turn, message_id: str) -> WorkItem | None:
        """The row of the work the turn asks for, held by this replica (in the turn's transaction)."""
        work = turn.work
        if work is None or not turn.consented or turn.erased:
            return None
        args = work.args if work.job in ARGS_KEPT else {}
        return await self.db.work.add(turn.user.id, message_id, work.job, args, work.then, owner=self.owner,
                                      lease=self.lease, now=turn.now)

    async def _requeue(self, item: WorkItem, place: int) -> list[Outgoing]:
        """Every worker is busy and the line is full: the row goes back to the queue, the patient is told."""
        async with self.db.transaction():
            turn, state = await self._locked_turn(item.user_id)
            if turn is None or not await self.db.work.requeue(item.id, self.owner):
                return []
            turn.say("busy.queued", n=place)
            await self._store(turn, state, log_inbound=False)
        return turn.out

    async def finish_item(self, item: WorkItem) -> list[Outgoing]:
        """Finishes a claimed row of the work table (queued, or cut short by a restart): an assessment runs again
        and its result is returned; other work is dropped with "please send it again" (its inputs were not kept)."""
        work = Work(item.job, item.args, item.then)
        if item.job in RESUMABLE:  # (a full queue: _finish puts the row back)
            return await self._finish(item, work, None, "", True, _unsent)
        async with self.db.transaction():
            turn, state = await self._locked_turn(item.user_id)
            if turn is None or not await self.db.work.finish(item.id, self.owner):
                return []
            await flows.interrupted(turn, work)
            await self._store(turn, state, log_inbound=False)
        return turn.out

    def _detach(self, item: WorkItem, finishing: Awaitable[list[Outgoing]]) -> asyncio.Task:
        async def run() -> None:
            await self._push(item.user_id, await finishing)

        return self._detached.start(run())

    async def _push(self, user_id: int, messages: Sequence[Outgoing]) -> None:
        if messages and self.deliver is not None:
            await self.deliver(user_id, messages)

    async def settle(self) -> None:
        """Waits for the detached work in hand (shutdown: before the pool closes)."""
        await self._detached.settle()

    async def _allowed(self, turn: Turn, kind: str) -> bool:
        """Takes one of the patient's `kind` tokens; refused, says so once (until one is allowed again)."""
        if self.limits is None:
            return True
        capacity, period = self.limits.rule(kind)
        taken = await self.db.limits.take(turn.user.id, kind, capacity, period, turn.now)
        if not taken.allowed and taken.first_refusal:
            turn.say(REFUSALS[kind], n=capacity)
        return taken.allowed

    async def _locked_turn(self, user_id: int, event: InboundEvent | None = None
                           ) -> tuple[Turn | None, ConversationState | None]:
        """A turn on the patient's locked state (inside a transaction); None once erased."""
        try:
            user = await self.db.users.get_user(user_id)
        except NotFound:
            return None, None
        state = await self.db.states.load_state(user_id, for_update=True)
        return self._turn(user, event, state), state

    async def reminder(self, user_id: int, now: datetime | None = None) -> list[Outgoing]:
        """The check-in reminder for a patient (for the reminder dispatcher), or [] when there is none to send
        (the patient erased their data or has not consented). `now` says how long it has been."""
        async with self.db.transaction():
            try:
                user = await self.db.users.get_user(user_id)
            except NotFound:
                return []
            if user.consent != "accepted":
                return []
            state = await self.db.states.load_state(user.id, for_update=False)  # a reminder changes no state
            turn = self._turn(user, None, state)
            if now is not None:
                turn.now = now
            await flows.reminders.remind(turn)
            for message in turn.out:
                await self.db.messages.log_message(user.id, "out", message.type, _loggable(message))
        return turn.out

    async def staff_reply(self, user_id: int, staff_id: int, text: str) -> list[Outgoing]:
        """A staff member's reply during a handover they hold: kept in the transcript and the audit log; the
        messages to push to the patient (bot.handover delivers them). Raises HandoverNotHeld otherwise."""
        async with self.db.transaction():
            held = await self.db.handovers.active_handover(user_id)
            if held is None or held.status != "taken" or held.taken_by != staff_id:
                raise HandoverNotHeld(f"no handover of user {user_id} held by staff {staff_id}")
            user = await self.db.users.get_user(user_id)
            await self.db.messages.log_message(user_id, "out", "staff", text)
            await self.db.audit.record("handover.reply", staff_id=staff_id, subject_user_id=user_id,
                                       detail={"handover": held.id})
        return [Text(t(resolve_locale(user.locale), "person.staff_says", text=text))]

    async def close_handover(self, handover_id: int, staff_id: int) -> list[Outgoing]:
        """Staff close a handover: the patient is back at the menu; returns the notice to push ([] when it was
        closed already)."""
        async with self.db.transaction():
            handover = await self.db.handovers.get_handover(handover_id)
            user = await self.db.users.get_user(handover.user_id)
            state = await self.db.states.load_state(user.id, for_update=True)  # no patient turn in between
            if await self.db.handovers.close(handover_id, staff_id) is None:
                return []
            turn = self._turn(user, None, state)
            await flows.handover.closed_by_staff(turn)
            await self._store(turn, state, log_inbound=False)
        return turn.out

    def _turn(self, user: User, event: InboundEvent | None, state: ConversationState) -> Turn:
        return Turn(db=self.db, user=user, event=event, step=state.step, data=copy.deepcopy(state.data),
                    steps=flows.STEPS, now=utcnow(), photo_retention_days=self.photo_retention_days,
                    allowed=self._allowed)

    async def _store(self, turn: Turn, state: ConversationState, *, log_inbound: bool,
                     notes: list[Outgoing] = ()) -> None:
        event = turn.event
        if turn.erased:
            if event is not None:  # the erasure took this message's mark with it; a redelivery stays answered
                await self.db.dedup.mark_processed(event.channel, event.message_id, None)
            return
        if not turn.consented:
            return  # before consent nothing but the consent answer (on the user row) is stored
        flow = turn.step.split(".")[0] if turn.step else None
        await self.db.states.save_state(replace(state, flow=flow, step=turn.step, data=turn.data))
        user_id = turn.user.id
        entries = []
        if log_inbound and event is not None:
            text = event.payload if event.kind in ("command", "text", "choice") else None
            entries.append(("in", event.kind, text, turn.photo_id))
        entries += [("out", m.type, logged, None) for m in [*notes, *turn.out] if (logged := _loggable(m)) is not None]
        await self.db.messages.log_messages(user_id, entries)


class _FirstTransactionLost(Exception):
    """The database connection died in a turn's first transaction (rolled back): the turn runs again."""


async def reconnecting(call: Callable[[], Awaitable[T]], what: str | None = None) -> T:
    """call() again on a new connection while the database connection it used was lost (a few times); `what` it
    was doing is logged at each retry."""
    for attempt in range(1, RECONNECTS + 1):
        try:
            return await call()
        except DBAPIError as error:
            if not _disconnected(error) or attempt == RECONNECTS:
                raise
            if what:
                log.warning("database connection lost %s; trying again", what)
            await _reconnect_pause(attempt)
    raise AssertionError("unreachable")


async def _reconnect_pause(attempt: int) -> None:
    await asyncio.sleep(RECONNECT_PAUSE * 2 ** (attempt - 1))


def _disconnected(error: DBAPIError) -> bool:
    return bool(error.connection_invalidated)


async def _unsent(messages: list[Outgoing]) -> None:
    """Recovered work has no chat waiting for its progress notes."""


def _loggable(message: Outgoing) -> str | None:
    """The text a message log keeps of an outgoing message (pictures by caption only; Typing not at all)."""
    if isinstance(message, Typing):
        return None
    if isinstance(message, Choices):
        return f"{message.text}\n[{' | '.join(label for _, label in message.options)}]"
    if isinstance(message, Image):
        return message.caption
    if isinstance(message, File):
        return f"[{message.name}] {message.caption}"
    return message.text
