"""Reminders: how often the patient wants to be reminded to check in (sending them is the dispatcher's job)."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from conversations.flows.names import HANDOVER, MENU, REMINDERS
from conversations.flows.turn import Turn

CADENCE_DAYS = {"weekly": 7, "biweekly": 14, "monthly": 30}
DEFAULT_TIME = time(18, 0)  # in the patient's time zone once one is known; UTC until then


async def reminders(turn: Turn) -> None:
    await turn.goto(REMINDERS)


async def ask_reminders(turn: Turn) -> None:
    current = await turn.db.reminders.get_reminder(turn.user.id)
    now = (turn.t(f"reminders.cadence.{current.cadence}") if current and current.state != "stopped"
           and current.cadence in CADENCE_DAYS else turn.t("reminders.none"))
    turn.ask("reminders.choose", [(c, turn.t(f"reminders.cadence.{c}")) for c in CADENCE_DAYS]
             + [("off", turn.t("reminders.off")), ("menu", turn.t("common.back_to_menu"))], current=now)


async def reminder_chosen(turn: Turn) -> None:
    if turn.action in CADENCE_DAYS:
        await turn.db.reminders.set_reminder(turn.user.id, turn.action, DEFAULT_TIME,
                                             next_due(turn.now, CADENCE_DAYS[turn.action]))
        turn.say("reminders.set", cadence=turn.t(f"reminders.cadence.{turn.action}"))
    elif turn.action == "off":
        await turn.db.reminders.stop_reminder(turn.user.id)
        turn.say("reminders.stopped")
    await turn.goto(MENU)


def next_due(now: datetime, days: int) -> datetime:
    day = (now + timedelta(days=days)).date()
    return datetime.combine(day, DEFAULT_TIME, tzinfo=now.tzinfo)


async def remind(turn: Turn) -> None:
    """The reminder itself (sent by the dispatcher through Engine.reminder): back to where the patient is."""
    if turn.step == HANDOVER:  # a person is talking with the patient: no reminder in between
        return
    turn.say("reminders.due")
    if "checkin" in turn.data and turn.step in turn.steps:
        turn.say("reminders.due_unfinished")
        await turn.reprompt()
    else:
        await turn.goto(MENU)
