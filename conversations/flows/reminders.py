"""Reminders: how often and at what local time the patient wants to be reminded to check in, and the reminder's
own buttons (sending it is the dispatcher's job, bot/service/reminders.py).

Reminders menu (or "Remind me" under a result) -> REMINDERS: weekly / every 2 weeks / monthly / off / change
time zone -> REMINDER_TIME: morning, noon, evening or a typed HH:MM -> REMINDER_ZONE, only while the patient
has no time zone (asked once; buttons of common zones per language, or a typed IANA name) -> saved -> MENU.
The pushed reminder's buttons carry no nonce (REMINDER_PREFIX), so they work from any old reminder message:
Start check-in, Snooze 1 day, Stop reminders.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time
from typing import Any

from conversations.flows.names import (AFTER_RESULT, CHECKIN_STEPS, HANDOVER, MENU, NEW_CHECKIN, OPEN_REMINDERS,
                                       REMINDER_TIME, REMINDER_ZONE, REMINDERS, START)
from conversations.flows.turn import Handler, Step, Turn, entry
from conversations.messages import Choices
from conversations.schedule import (CADENCE_DAYS, first_due, parse_time_of_day, snoozed, valid_zone,
                                    zone_info)
from conversations.summaries import grade_label

REMINDER_PREFIX = "r"  # choice data "r:<action>": the reminder's buttons, valid from any message
TIMES = {"morning": (time(9, 0), "reminders.time_morning"), "noon": (time(12, 30), "reminders.time_noon"),
         "evening": (time(19, 0), "reminders.time_evening")}
ZONES = {"en": ("Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago", "America/Los_Angeles",
                "Asia/Shanghai", "UTC"),
         "zh": ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Europe/London",
                "America/New_York")}
DEFAULT_ZONE = {"zh": "Asia/Shanghai"}  # en has none: English speakers live everywhere


# -- the Reminders menu -------------------------------------------------------------------------------------------
async def reminders(turn: Turn) -> None:
    turn.clear("reminder")
    await turn.goto(REMINDERS)


async def ask_reminders(turn: Turn) -> None:
    current = await turn.db.reminders.get_reminder(turn.user.id)
    now = (turn.t("reminders.current", cadence=turn.t(f"reminders.cadence.{current.cadence}"),
                  time=current.time_of_day.strftime("%H:%M"), zone=turn.user.timezone or "UTC")
           if current and current.state != "stopped" and current.cadence in CADENCE_DAYS else turn.t("reminders.none"))
    options = [(c, turn.t(f"reminders.cadence.{c}")) for c in CADENCE_DAYS] + [("off", turn.t("reminders.off"))]
    if turn.user.timezone:
        options.append(("zone", turn.t("reminders.change_zone")))
    turn.ask("reminders.choose", options + [("menu", turn.t("common.back_to_menu"))], current=now)


async def reminder_chosen(turn: Turn) -> None:
    if turn.action in CADENCE_DAYS:
        turn.data["reminder"] = {"cadence": turn.action}
        return await turn.goto(REMINDER_TIME)
    if turn.action == "zone":
        turn.data["reminder"] = {}
        return await turn.goto(REMINDER_ZONE)
    if turn.action == "off":
        await turn.db.reminders.stop_reminder(turn.user.id)
        turn.say("reminders.stopped")
    turn.clear("reminder")
    await turn.goto(MENU)


async def ask_time(turn: Turn) -> None:
    turn.ask("reminders.time_question", [(name, turn.t(key)) for name, (_, key) in TIMES.items()])


async def time_chosen(turn: Turn) -> None:
    if turn.action not in TIMES:
        return await turn.reprompt()
    await _time_given(turn, TIMES[turn.action][0])


async def time_typed(turn: Turn) -> None:
    await _typed(turn, parse_time_of_day, "reminders.time_invalid", _time_given)


async def _time_given(turn: Turn, time_of_day: time) -> None:
    turn.data.setdefault("reminder", {})["time"] = time_of_day.strftime("%H:%M")
    if turn.user.timezone is None:
        return await turn.goto(REMINDER_ZONE)
    await _save(turn)


async def ask_zone(turn: Turn) -> None:
    default = DEFAULT_ZONE.get(turn.locale)
    options = [(f"zone.{z}", turn.t("reminders.zone_default", zone=z) if z == default else z)
               for z in ZONES.get(turn.locale, ZONES["en"])]
    turn.ask("reminders.zone_question", options)


async def zone_chosen(turn: Turn) -> None:
    zone = turn.action.removeprefix("zone.")
    if not turn.action.startswith("zone.") or valid_zone(zone) is None:
        return await turn.reprompt()
    await _zone_given(turn, zone)


async def zone_typed(turn: Turn) -> None:
    await _typed(turn, valid_zone, "reminders.zone_invalid", _zone_given)


async def _typed(turn: Turn, parse: Callable[[str], Any], invalid: str,
                 then: Callable[[Turn, Any], Awaitable[None]]) -> None:
    value = parse(turn.event.payload)
    if value is None:
        turn.say(invalid)
        return await turn.reprompt()
    await then(turn, value)


async def _zone_given(turn: Turn, zone: str) -> None:
    await turn.db.users.set_timezone(turn.user.id, zone)
    turn.user = await turn.db.users.get_user(turn.user.id)
    if turn.data.get("reminder", {}).get("time"):
        return await _save(turn)
    reminder = await turn.db.reminders.get_reminder(turn.user.id)
    if reminder is not None and reminder.state != "stopped":  # the same wall-clock time in the new zone
        await turn.db.reminders.set_reminder(turn.user.id, reminder.cadence, reminder.time_of_day,
                                             first_due(turn.now, reminder.cadence, reminder.time_of_day, zone))
    turn.say("reminders.zone_set", zone=zone)
    turn.clear("reminder")
    await turn.goto(MENU)


async def _save(turn: Turn) -> None:
    chosen = turn.data.pop("reminder")
    cadence = chosen.get("cadence")
    if cadence not in CADENCE_DAYS:  # a state from before this flow changed: start again
        return await turn.goto(REMINDERS)
    time_of_day = time.fromisoformat(chosen["time"])
    zone = turn.user.timezone
    due = first_due(turn.now, cadence, time_of_day, zone)
    await turn.db.reminders.set_reminder(turn.user.id, cadence, time_of_day, due)
    turn.say("reminders.set", cadence=turn.t(f"reminders.cadence.{cadence}"), time=chosen["time"],
             zone=zone, next=local_label(due, zone))
    await turn.goto(MENU)


def local_label(moment: datetime, zone: str | None) -> str:
    """"2026-11-30 19:00": the patient's wall clock, no words to translate."""
    return moment.astimezone(zone_info(zone)).strftime("%Y-%m-%d %H:%M")


# -- after a result ------------------------------------------------------------------------------------------------
async def after_result(turn: Turn) -> Choices | None:
    """A patient without reminders is offered them: the offer (one button) is returned, for the prompt under the
    result; one with them has the next reminder counted from this check-in."""
    current = await turn.db.reminders.get_reminder(turn.user.id)
    if current is None or current.state == "stopped":
        return Choices(turn.t("reminders.offer"), ((f"{REMINDER_PREFIX}:remind", turn.t("reminders.offer_button")),))
    if current.state == "active" and current.cadence in CADENCE_DAYS:
        await turn.db.reminders.set_reminder(turn.user.id, current.cadence, current.time_of_day,
                                             first_due(turn.now, current.cadence, current.time_of_day,
                                                       turn.user.timezone))
    return None


async def offer_after_result(turn: Turn, advice: str) -> None:
    """Under a result, in one message: its advice, the reminders offer (if any), and the menu."""
    offer = await after_result(turn)
    await turn.goto(MENU, preface=(advice, *([offer.text] if offer else [])), fixed=offer.options if offer else ())


# -- the reminder and its buttons ------------------------------------------------------------------------------------
async def remind(turn: Turn) -> None:
    """The reminder itself (Engine.reminder, for the dispatcher): one message, so a retry never repeats half."""
    if turn.step == HANDOVER:  # a person is talking with the patient: no reminder in between
        return
    last = await turn.db.assessments.latest_assessment(turn.user.id)
    if last is None:
        text = turn.t("reminders.due_first")
    else:
        text = turn.t("reminders.due", days=max((turn.now - last.created_at).days, 1),
                      grade=grade_label(turn.locale, last.grade_personalised or last.grade))
    if "checkin" in turn.data and turn.step in CHECKIN_STEPS:
        text += "\n" + turn.t("reminders.due_unfinished")
    turn.send(Choices(text, tuple((f"{REMINDER_PREFIX}:{action}", turn.t(key)) for action, key in (
        ("checkin", "reminders.start_checkin"), ("snooze", "reminders.snooze"), ("stop", "reminders.stop")))))


async def reminder_button(turn: Turn) -> None:
    """A button of a pushed reminder (or of the offer under a result), pressed now or days later."""
    action = turn.event.payload.removeprefix(f"{REMINDER_PREFIX}:")
    if action == "checkin":
        if "checkin" in turn.data and turn.step in CHECKIN_STEPS:
            return await turn.goto(START)  # resumes the unfinished one
        return await turn.goto(NEW_CHECKIN)
    if action == "remind":
        return await reminders(turn)
    if action == "snooze":
        current = await turn.db.reminders.get_reminder(turn.user.id)
        if current is not None and current.state != "stopped":
            until = snoozed(turn.now, current.time_of_day, turn.user.timezone)
            await turn.db.reminders.snooze_reminder(turn.user.id, until)
            turn.say("reminders.snoozed", next=local_label(until, turn.user.timezone))
        else:
            turn.say("reminders.stopped")
    elif action == "stop":
        await turn.db.reminders.stop_reminder(turn.user.id)
        turn.say("reminders.stopped")
    await turn.reprompt()


STEPS: dict[str, Step] = {
    REMINDERS: Step(ask_reminders, "expects.button", on_choice=reminder_chosen),
    REMINDER_TIME: Step(ask_time, "expects.time", on_choice=time_chosen, on_text=time_typed),
    REMINDER_ZONE: Step(ask_zone, "expects.zone", on_choice=zone_chosen, on_text=zone_typed),
    OPEN_REMINDERS: entry(reminders),
    AFTER_RESULT: entry(offer_after_result),
}
COMMANDS: dict[str, Handler] = {"remind": reminders}
