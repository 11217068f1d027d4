"""The reminder dialog through Engine.handle on SQLite and PostgreSQL: cadence, time of day (buttons or typed),
time zone asked once (per-language defaults, typed IANA names), the reminder's text, and its buttons, which
work from an old message: Start check-in, Snooze 1 day, Stop reminders."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from conversation_support import Patient
from conversations import Engine, flows
from conversations.flows.names import MENU
from conversations.flows.reminders import after_result
from conversations.flows.turn import Turn
from conversations.schedule import in_quiet_hours
from pipeline.result import AssessmentResult

pytestmark = pytest.mark.asyncio
RESULT = {"score": 12, "grade": "mild", "regions": {}, "refer": {"needed": False}, "quality": {"ok": True}}


async def consented(engine: Engine, user_id: str = "patient", locale: str = "en") -> Patient:
    patient = Patient(engine, user_id, locale=locale)
    await patient.command("start")
    await patient.tap("yes")
    return patient


async def test_cadence_typed_time_and_typed_zone_then_the_zone_is_not_asked_again(engine, db):
    patient = await consented(engine)
    await patient.tap("reminders")
    assert "now: no reminders" in patient.texts
    await patient.tap("weekly")
    assert [label for _, label in patient.choices.options] == ["Morning (09:00)", "Noon (12:30)", "Evening (19:00)"]
    await patient.text("later")
    assert "did not understand that time" in patient.texts and "At what time of day?" in patient.texts
    await patient.text("7:45")
    assert "Which time zone are you in?" in patient.texts
    assert "Europe/London" in [label for _, label in patient.choices.options]
    await patient.text("Mars/Olympus_Mons")
    assert "do not know that time zone" in patient.texts
    await patient.text("America/New_York")
    assert "Every week, at 07:45 (America/New_York time)" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    reminder = await db.reminders.get_reminder(user.id)
    assert user.timezone == "America/New_York" and reminder.time_of_day == time(7, 45)
    local = reminder.next_due_at.astimezone(ZoneInfo("America/New_York"))
    assert local.time() == time(7, 45) and local.strftime("%Y-%m-%d %H:%M") in patient.texts
    assert timedelta(days=6) < reminder.next_due_at - datetime.now(UTC) < timedelta(days=8)

    await patient.command("remind")  # the second time: no time zone question
    assert "now: Every week at 07:45, America/New_York time" in patient.texts
    await patient.tap("monthly")
    await patient.tap("evening")
    assert "Every month, at 19:00 (America/New_York time)" in patient.texts and "Which time zone" not in patient.texts
    await patient.command("remind")
    await patient.tap("zone")  # moved: the same wall-clock time in the new zone
    await patient.tap("zone.Europe/Berlin")
    assert "time zone is now Europe/Berlin" in patient.texts
    moved = await db.reminders.get_reminder(user.id)
    assert moved.cadence == "monthly" and moved.next_due_at.astimezone(ZoneInfo("Europe/Berlin")).time() == time(19)
    schedule = await db.reminders.schedule(user.id)  # what the staff console shows
    assert (schedule.zone, schedule.active, schedule.next_due_local.time()) == ("Europe/Berlin", True, time(19))
    assert schedule.reminder == moved and await db.reminders.schedule(987654) is None


async def test_chinese_patients_get_shanghai_as_the_default_zone(engine, db):
    patient = await consented(engine, "zh-patient", locale="zh")
    await patient.tap("reminders")
    await patient.tap("biweekly")
    await patient.tap("morning")
    first_zone = patient.choices.options[0]
    assert first_zone[0].endswith(":zone.Asia/Shanghai") and "默认" in first_zone[1]
    await patient.tap("zone.Asia/Shanghai")
    assert "每两周" in patient.texts and "09:00" in patient.texts and "Asia/Shanghai" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert user.timezone == "Asia/Shanghai"
    patient.replies = await engine.reminder(user.id)
    assert [label for _, label in patient.choices.options] == ["开始打卡", "推迟 1 天", "停止提醒"]


async def test_the_reminder_and_its_buttons_from_an_old_message(engine, db):
    patient = await consented(engine)
    for button in ("reminders", "weekly", "evening", "zone.Europe/Berlin"):
        await patient.tap(button)
    assert "Every week, at 19:00 (Europe/Berlin time)" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    checked_in = datetime.now(UTC) - timedelta(days=15)
    await db.assessments.save_assessment(user.id, AssessmentResult.from_json(RESULT), created_at=checked_in)

    patient.replies = await engine.reminder(user.id, now=checked_in + timedelta(days=14, hours=1))
    reminder = patient.choices
    assert reminder.text.startswith("⏰ It has been 14 days since your last check-in (grade: mild).")
    assert [label for _, label in reminder.options] == ["Start check-in", "Snooze 1 day", "Stop reminders"]
    logged = (await db.messages.list_messages(user.id))[-1]  # staff see it in the conversation
    assert (logged.direction, logged.kind) == ("out", "choices") and logged.text.startswith(reminder.text)
    await patient.command("help")  # the patient moves on (a new nonce); the reminder's buttons stay valid
    patient.replies = [reminder]

    await patient.tap("snooze")
    assert "remind you again on" in patient.texts
    snoozed = (await db.reminders.get_reminder(user.id)).next_due_at
    local = snoozed.astimezone(ZoneInfo("Europe/Berlin"))
    assert snoozed >= datetime.now(UTC) + timedelta(days=1, minutes=-1)
    assert not in_quiet_hours(local.time()) or local.time() == time(9)
    assert local.strftime("%Y-%m-%d %H:%M") in patient.texts

    patient.replies = [reminder]
    await patient.tap("checkin")
    assert "How would you like to take the photos?" in patient.texts
    await patient.tap("face")
    patient.replies = [reminder]
    await patient.tap("checkin")  # in the middle of a check-in: it continues
    assert "continue your check-in" in patient.texts and "photo" in patient.texts.lower()

    patient.replies = [reminder]
    await patient.tap("stop")
    assert "Reminders are off." in patient.texts
    assert (await db.reminders.get_reminder(user.id)).state == "stopped"


async def test_no_reminder_for_a_patient_who_declined(engine, db):
    patient = Patient(engine, "decliner")
    await patient.command("start")
    await patient.tap("no")
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert await engine.reminder(user.id) == []
    assert await engine.reminder(987654) == []  # erased


async def test_after_a_result_reminders_are_offered_or_counted_from_this_check_in(engine, db):
    patient = await consented(engine)
    user = await db.users.find_user(patient.channel, patient.user_id)
    now = datetime.now(UTC)
    turn = Turn(db=db, user=user, event=None, step=MENU, data={}, steps=flows.STEPS, now=now)
    offer = await after_result(turn)  # shown under the result, with the menu
    assert offer.options == (("r:remind", "Remind me"),) and turn.out == []
    patient.replies = [offer]
    await patient.tap("remind")  # the offer's button, pressed from the result
    assert "How often should I remind you?" in patient.texts

    await db.reminders.set_reminder(user.id, "weekly", time(19), now + timedelta(days=2))
    turn = Turn(db=db, user=user, event=None, step=MENU, data={}, steps=flows.STEPS, now=now)
    assert await after_result(turn) is None and turn.out == []
    pushed = (await db.reminders.get_reminder(user.id)).next_due_at
    assert timedelta(days=6) < pushed - now <= timedelta(days=8) and pushed.astimezone(UTC).time() == time(19)
