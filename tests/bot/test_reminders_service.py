"""End to end: the running service (create_app with the Telegram transport, polling the fake Bot API server)
sends a due reminder from its dispatcher, and the patient's "Start check-in" on it leads straight into a
completed check-in (a real photo, the real pipeline, the questions) and a result."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.service.app import COURIERS, REMINDERS
from storage.columns import utcnow
from tests.bot.test_telegram import answer_questions, assert_result

pytestmark = pytest.mark.asyncio
# One of these is always between 10:00 and 20:00 local, outside quiet hours whatever the time of the test.
DAYTIME_ZONES = ("Europe/Berlin", "Asia/Shanghai", "America/New_York", "Pacific/Auckland")


def a_daytime_zone() -> str:
    return next(z for z in DAYTIME_ZONES if 10 <= datetime.now(ZoneInfo(z)).hour < 20)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_reminder_from_the_service_leads_straight_into_a_completed_check_in(
        start_service, make_patient, db, fake, face_photo, shipped_model):
    service = await start_service(reminder_poll_seconds=3600)  # polls at start, then when woken
    assert service.app[COURIERS]["telegram"] is service.transport
    alice = make_patient(service)
    await alice.command("/start")
    await alice.press("consent.accept")
    await alice.press("menu.reminders")
    await alice.press("reminders.cadence.weekly")
    await alice.press("reminders.time_evening")
    zone = a_daytime_zone()
    await alice.text(zone)
    assert alice.t("reminders.zone_question") not in alice.texts and zone in alice.texts

    user = await db.users.find_user("telegram", str(alice.user.id))
    await db.reminders.set_reminder(user.id, "weekly", time(19), utcnow() - timedelta(minutes=1))  # due now
    mark = len(fake.calls)
    dispatcher = service.app[REMINDERS]
    dispatcher.wake()
    await fake.wait_for(lambda: dispatcher.sent == 1)  # delivered and marked sent
    [reminder] = [c for c in fake.sent(alice.user, since=mark) if alice.t("reminders.due_first") in c.text]
    assert [label for label, _ in reminder.buttons] == [alice.t("reminders.start_checkin"),
                                                        alice.t("reminders.snooze"), alice.t("reminders.stop")]
    sent = await db.reminders.get_reminder(user.id)
    assert sent.state == "active" and sent.next_due_at > utcnow() + timedelta(days=6)

    await alice.press("reminders.start_checkin")
    assert alice.t("checkin.mode") in alice.texts
    await alice.press("checkin.mode_face")
    await alice.photo(face_photo)
    assert alice.t("checkin.face_photo_ok") in alice.texts
    await answer_questions(alice, age="24")
    assert_result(alice)
    assert alice.t("reminders.offer") not in alice.texts  # reminders are on: not offered again
    after = await db.reminders.get_reminder(user.id)  # counted from this check-in, at 19:00 local
    assert after.next_due_at.astimezone(ZoneInfo(zone)).time() == time(19)
    assert timedelta(days=6) < after.next_due_at - datetime.now(UTC) <= timedelta(days=8)
