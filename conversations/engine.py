"""`Engine.handle(event) -> [Outgoing]`: one platform message through dedup, the patient's state and the flows.

    engine = Engine(db, Assessor())
    replies = await engine.handle(InboundEvent("telegram", "42", "1001", "command", "/start", locale_hint="zh"))

A turn is one transaction: mark the message processed (a redelivery returns []), lock the patient's state row
(PostgreSQL: SELECT ... FOR UPDATE, so replicas take turns per patient), run the step, save the state and the
message log. A step that needs the pipeline ends its transaction first; the work runs in the assessor's threads
with no transaction open (an SQLite transaction blocks every other patient), then a second short transaction
reloads the state and runs the step's continuation. Replies produced before the work (Typing, "analysing…")
go to `on_progress` right away when the caller gives one, otherwise they lead the returned list.
The work is marked in the stored state while it runs (conversations/inflight.py): a restart, or an assessment
queue that is full (the patient is told their place), leaves it there for `resume_work`.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from conversations import flows
from conversations import inflight
from conversations.assessor import Assessor, QueueFull
from conversations.flows.handover import HandoverNotHeld
from conversations.flows.turn import Turn, Work
from conversations.i18n import resolve_locale, t
from conversations.jobs import JOBS, JobContext
from conversations.limits import MESSAGE, REFUSALS, RateLimits
from conversations.messages import Choices, File, Image, InboundEvent, Outgoing, Text, Typing
from conversations.observer import Observer, job_outcome
from storage import ConversationState, Database, NotFound, StaleState, User
from storage.columns import utcnow

log = logging.getLogger(__name__)
OnProgress = Callable[[list[Outgoing]], Awaitable[None]]
ATTEMPTS = 3  # a turn that lost a race on the state row (StaleState) is handled again from the start
# A transaction whose connection was lost (killed, failed over) rolled back and runs again on a new one. A
# server that drops connections in bursts can take several in a row: give up only after a few seconds, never
# losing a finished assessment to three unlucky reconnects.
RECONNECTS = 6
RECONNECT_PAUSE = 0.05  # seconds before the first retry, doubling each time (1.5 s in all)


class Engine:
    def __init__(self, db: Database, assessor: Assessor, *, photo_retention_days: int = 180, owner: str = "local",
                 limits: RateLimits | None = None, observer: Observer | None = None):
        self.db = db
        self.observer = observer or Observer()
        self.limits = limits  # None: no rate limits (tests, the local demo's caller decides)
        self.assessor = assessor
        self.photo_retention_days = photo_retention_days
        self.owner = owner  # this replica's name in work markers (REPLICA_ID)

    async def handle(self, event: InboundEvent, on_progress: OnProgress | None = None) -> list[Outgoing]:
        started = time.perf_counter()
        races = reconnects = 0
        while True:
            try:
                replies = await self._handle(event, on_progress)
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

    async def _handle(self, event: InboundEvent, on_progress: OnProgress | None) -> list[Outgoing]:
        replies: list[Outgoing] = []

        async def emit(messages: list[Outgoing]) -> None:
            if on_progress is not None and messages:
                await on_progress(messages)
            else:
                replies.extend(messages)

        try:
            turn, user, inbound_logged, early = await self._first_transaction(event)
        except DBAPIError as error:
            if _disconnected(error):  # rolled back, dedup mark included: the whole turn can run again
                raise _FirstTransactionLost() from error
            raise
        if early is not None:
            return early
        log.debug("user %s %s -> step %s", user.id, event.kind, turn.step)

        while turn.work is not None:
            work = turn.work
            await emit(turn.out)
            notes: list[Outgoing] = []

            async def queued(place: int, locale: str = turn.locale) -> None:
                note = Text(t(locale, "busy", n=place))
                notes.append(note)
                await emit([note])

            try:
                outcome = await self._job(work, JobContext(self.db, self.assessor, user.id, event, queued))
            except QueueFull as full:  # it waits in the stored state; the re-offer loop runs it and sends the result
                replies.extend(await self._queue(user.id, event.message_id, full.place))
                return replies
            for attempt in range(1, RECONNECTS + 1):
                try:
                    async with self.db.transaction():
                        user = await self.db.users.get_user(user.id)
                        state = await self.db.states.load_state(user.id, for_update=True)
                        turn = self._turn(user, event, state)
                        await flows.resume(turn, work, outcome)
                        inflight.record(turn.data, event.message_id, turn.work, owner=self.owner, now=turn.now)
                        log_inbound = not inbound_logged and turn.work is None
                        await self._store(turn, state, log_inbound=log_inbound, notes=notes)
                    inbound_logged = inbound_logged or log_inbound
                    break
                except NotFound:  # the patient erased their data while the work ran
                    return replies
                except DBAPIError as error:  # rolled back: the continuation can run again on a new connection
                    if not _disconnected(error) or attempt == RECONNECTS:
                        raise
                    log.warning("database connection lost finishing user %s's work; trying again", user.id)
                    await _reconnect_pause(attempt)
        replies.extend(turn.out)
        return replies

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

    async def _first_transaction(self, event: InboundEvent) -> tuple[Turn, User, bool, list[Outgoing] | None]:
        """Dedup, the patient's locked state, the step: (turn, user, inbound logged, the whole answer when the
        turn ends without work here: a duplicate or a refusal)."""
        async with self.db.transaction():
            user = await self.db.users.find_user(event.channel, event.user_id)
            consented = user is not None and user.consent == "accepted"
            # Before consent the mark carries no user id, so nothing links the patient to it.
            if not await self.db.dedup.mark_processed(event.channel, event.message_id,
                                                      user.id if consented else None):
                log.debug("duplicate message %s/%s ignored", event.channel, event.message_id)
                return None, None, True, []
            first_contact = user is None
            if first_contact:  # the row that will hold the consent answer
                hint = resolve_locale(event.locale_hint) if event.locale_hint else None
                user = await self.db.users.get_or_create_user(event.channel, event.user_id, hint)
            state = (await self.db.states.load_state(user.id, for_update=True) if consented
                     else ConversationState(user_id=user.id))
            turn = self._turn(user, event, state)
            turn.first_contact = first_contact
            if consented and not await self._allowed(turn, MESSAGE):
                return turn, user, True, turn.out  # nothing but the dedup mark and the bucket is stored
            await flows.run(turn)
            inflight.record(turn.data, event.message_id, turn.work, owner=self.owner, now=turn.now)
            # A photo is logged once its check is done, with the id it is stored under (if it is kept).
            inbound_logged = not (turn.work is not None and event.kind == "photo")
            await self._store(turn, state, log_inbound=inbound_logged)
        return turn, user, inbound_logged, None

    async def _queue(self, user_id: int, message_id: str, place: int) -> list[Outgoing]:
        async with self.db.transaction():
            turn, state = await self._locked_turn(user_id)
            found = inflight.marker(turn.data, message_id) if turn else None
            if found is None:
                return []
            inflight.record(turn.data, message_id, inflight.as_work(found), owner=found["owner"], now=turn.now,
                            status="queued")
            turn.say("busy.queued", n=place)
            await self._store(turn, state, log_inbound=False)
        return turn.out

    async def resume_work(self, user_id: int, message_id: str, *, claim: Callable[[dict], bool]) -> list[Outgoing]:
        """Finishes the work a message asked for that was cut short or queued, if `claim(marker)` says it is ours
        to take (the marker is re-checked under the state's row lock, so replicas take each one once). An
        assessment runs again and its result is returned; other work is dropped with "please send it again"."""
        async with self.db.transaction():
            turn, state = await self._locked_turn(user_id)
            found = inflight.marker(turn.data, message_id) if turn else None
            if found is None or not claim(found):
                return []
            work = inflight.as_work(found)
            if work.job in inflight.RESUMABLE:
                inflight.record(turn.data, message_id, work, owner=self.owner, now=turn.now)
            else:
                await flows.interrupted(turn, work)
                inflight.record(turn.data, message_id, None, owner=self.owner, now=turn.now)
            await self._store(turn, state, log_inbound=False)
        if work.job not in inflight.RESUMABLE:
            return turn.out
        try:
            outcome = await self._job(work, JobContext(self.db, self.assessor, user_id, None, _nobody))
        except QueueFull:
            await self._queue(user_id, message_id, self.assessor.queue or 0)
            return []
        async with self.db.transaction():
            turn, state = await self._locked_turn(user_id)
            if turn is None or inflight.marker(turn.data, message_id) is None:
                return []
            await flows.resume(turn, work, outcome)
            inflight.record(turn.data, message_id, None, owner=self.owner, now=turn.now)
            await self._store(turn, state, log_inbound=False)
        return turn.out

    async def _allowed(self, turn: Turn, kind: str) -> bool:
        """Takes one of the patient's `kind` tokens; refused, says so once (until one is allowed again)."""
        if self.limits is None:
            return True
        capacity, period = self.limits.rule(kind)
        taken = await self.db.limits.take(turn.user.id, kind, capacity, period, turn.now)
        if not taken.allowed and taken.first_refusal:
            turn.say(REFUSALS[kind], n=capacity)
        return taken.allowed

    async def _locked_turn(self, user_id: int) -> tuple[Turn | None, ConversationState | None]:
        """A turn with no event on the patient's locked state (inside a transaction); None once erased."""
        try:
            user = await self.db.users.get_user(user_id)
        except NotFound:
            return None, None
        state = await self.db.states.load_state(user_id, for_update=True)
        return self._turn(user, None, state), state

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
        if log_inbound and event is not None:
            text = event.payload if event.kind in ("command", "text", "choice") else None
            await self.db.messages.log_message(user_id, "in", event.kind, text, photo_id=turn.photo_id)
        for message in [*notes, *turn.out]:
            logged = _loggable(message)
            if logged is not None:
                await self.db.messages.log_message(user_id, "out", message.type, logged)


class _FirstTransactionLost(Exception):
    """The database connection died in a turn's first transaction (rolled back): the turn runs again."""


async def _reconnect_pause(attempt: int) -> None:
    await asyncio.sleep(RECONNECT_PAUSE * 2 ** (attempt - 1))


def _disconnected(error: DBAPIError) -> bool:
    return bool(error.connection_invalidated)


async def _nobody(place: int) -> None:
    """Resumed work has no chat to tell its place in line to."""


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
