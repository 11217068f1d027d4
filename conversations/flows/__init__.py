"""The patient's journey, as named steps and one small async function per thing the bot answers.

/start -> what the bot does and does not do, what is stored and for how long -> Accept / Decline (nothing is
stored but that answer until Accept) -> MENU: New check-in, My history, Reminders, My data, Help, Language.
New check-in -> CHECKIN_MODE: full face (FACE_PHOTO) or by region (REGION_PHOTO: forehead, nose, cheeks, chin,
each skippable) -> each photo checked at once, retake with the reason when unusable (a full-face photo posed
unlike the last full-face check-in's: POSE_CHECK, retake or go on; one with no face in it, before any is kept, also
offers to go on by region, as a close-up would) -> QUESTION: profile questions not yet
answered, then the visit questions, each skippable; a returning patient gets CHANGES instead ("Anything new
since <date>?": Nothing changed keeps the last answers, Update asks the visit questions again) -> ANALYSING ->
result (the annotated photo captioned with grade, score, change since last time, doctor notice and counts; then
the advice with the menu) -> MENU. My history -> HISTORY (list + trend
chart) -> COMPARE_FIRST -> COMPARE_SECOND -> side by side. My data -> MY_DATA (edit answers,
export) -> CONFIRM_DELETE. Talk to a person (/human) -> HANDOVER until "Back to the bot" (/bot) or staff close it.
Reminders -> REMINDERS (cadence) -> REMINDER_TIME -> REMINDER_ZONE (once); a pushed reminder's buttons work
from any step.
/cancel from anywhere -> MENU. Anything unexpected: say so, say what is expected, ask again.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from conversations.flows import checkin, handover, history, mydata, questions, reminders, result, start
from conversations.flows.names import HANDOVER, MENU
from conversations.flows.turn import Handler, Step, Turn, Work

# Each flow declares its steps (states and entries, by the names in names.py) and may declare its commands and the
# continuations of the slow work it asks for; a flow reaches another only by a step's name (turn.goto), never by
# importing it. The order is the commands' order.
FLOWS = (start, checkin, questions, result, history, reminders, mydata, handover)


def _merged(table: str) -> dict[str, Any]:
    """One of the tables a flow may declare (STEPS, COMMANDS, CONTINUATIONS), every flow's in one; a name two
    flows declare is a mistake, found at import."""
    merged: dict[str, Any] = {}
    for flow in FLOWS:
        for name, value in getattr(flow, table, {}).items():
            if name in merged:
                raise ValueError(f"{name!r} is declared by two flows")
            merged[name] = value
    return merged


STEPS: dict[str, Step] = _merged("STEPS")
COMMANDS: dict[str, Handler] = _merged("COMMANDS")
# Shown in the platform's command menu (Telegram set_my_commands), described by `command.<name>` texts.
COMMAND_MENU: tuple[str, ...] = ("checkin", "history", "remind", "data", "export", "delete", "human", "language",
                                 "help", "cancel")
CONTINUATIONS: dict[str, Callable[[Turn, dict, object], Awaitable[None]]] = _merged("CONTINUATIONS")


def command_name(payload: str) -> str:
    """"/CheckIn@acnebot now" -> "checkin"."""
    words = payload.strip().split()
    return words[0].lstrip("/").split("@")[0].lower() if words else ""


def _at_a_state(turn: Turn) -> None:
    """A stored step this version does not know (or that is no state) is the menu."""
    known = STEPS.get(turn.step)
    if known is None or not known.is_state:
        turn.step = MENU


async def run(turn: Turn) -> None:
    """Answers the turn's event from the current step (or the consent prompt, before consent)."""
    waiting = checkin.closeup_waiting(turn.data)
    await _answer(turn)
    await checkin.forget_closeup(turn, waiting)


async def _answer(turn: Turn) -> None:
    event = turn.event
    name = command_name(event.payload) if event.kind == "command" else ""
    if not turn.consented:
        if name == "help":
            return await start.help_(turn)
        if name == "language":
            return await start.ask_language(turn)
        return await start.before_consent(turn)
    _at_a_state(turn)
    if turn.step == HANDOVER and event.kind != "choice":  # for the person, not the flows (but /bot, /cancel)
        ends = name in handover.COMMANDS_THAT_END_IT
        return await (handover.back_to_bot if ends else handover.patient_message)(turn)
    if event.kind == "command":
        return await COMMANDS.get(name, start.unknown_command)(turn)
    step = STEPS[turn.step]
    if event.kind == "choice" and event.payload.startswith(f"{reminders.REMINDER_PREFIX}:"):
        return await reminders.reminder_button(turn)
    if event.kind == "choice":
        nonce, sep, action = event.payload.partition(":")
        if not sep or nonce != turn.data.get("nonce"):
            turn.say("stale_button")
            return await turn.reprompt()
        turn.action = action
        handler = step.on_choice
    else:
        handler = {"text": step.on_text, "photo": step.on_photo}.get(event.kind)
    if handler is None:
        return await turn.unexpected()
    await handler(turn)


async def interrupted(turn: Turn, work: Work) -> None:
    """Work cut short by a restart that cannot run again (a photo check: unchecked photos are not kept)."""
    _at_a_state(turn)
    if work.job == "check_photo":
        return await checkin.photo_interrupted(turn, work.args)
    turn.say("interrupted.resend")
    await turn.reprompt()


async def resume(turn: Turn, work: Work, outcome: object) -> None:
    """The second half of a turn whose step asked for slow work: its continuation, with the state reloaded."""
    _at_a_state(turn)
    await CONTINUATIONS[work.then](turn, work.args, outcome)
