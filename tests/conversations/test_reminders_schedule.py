"""conversations/schedule.py: next due times on the patient's wall clock (daylight saving included), quiet
hours, snooze, typed times and zones; storage's ReminderSchedule shows them to staff in local time."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from conversations.schedule import (first_due, next_due, outside_quiet_hours, parse_time_of_day, snoozed,
                                    valid_zone)
from storage.domain import Reminder, ReminderSchedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("zone, sent, expected", [
    # spring forward: Berlin 29 March 2026, New York 8 March 2026
    ("Europe/Berlin", "2026-03-24 18:00", "2026-03-31 17:00"),
    ("America/New_York", "2026-03-03 00:00", "2026-03-09 23:00"),
    # fall back: Berlin 25 October 2026, New York 1 November 2026
    ("Europe/Berlin", "2026-10-20 17:00", "2026-10-27 18:00"),
    ("America/New_York", "2026-10-28 23:00", "2026-11-05 00:00"),
    ("Asia/Shanghai", "2026-03-24 11:00", "2026-03-31 11:00"),  # no daylight saving
])
def test_19_00_local_stays_19_00_local_across_daylight_saving(zone, sent, expected):
    due = next_due(utc(sent), "weekly", time(19, 0), zone, scheduled=utc(sent))
    assert due == utc(expected)
    from zoneinfo import ZoneInfo
    assert due.astimezone(ZoneInfo(zone)).time() == time(19, 0)


def test_next_due_skips_what_was_missed_and_follows_the_cadence():
    sent_late = utc("2026-11-20 10:00")  # the dispatcher was down for three weeks
    assert next_due(sent_late, "weekly", time(19), None, scheduled=utc("2026-10-30 19:00")) == utc("2026-11-20 19:00")
    assert next_due(utc("2026-11-01 19:00"), "biweekly", time(19), None) == utc("2026-11-15 19:00")
    assert next_due(utc("2026-11-01 19:00"), "monthly", time(8, 15), None) == utc("2026-12-01 08:15")
    assert first_due(utc("2026-11-23 12:00"), "weekly", time(9), "Asia/Shanghai") == utc("2026-11-30 01:00")


def test_quiet_hours_move_to_09_00_local_unless_the_patient_chose_the_night():
    berlin = "Europe/Berlin"
    evening = time(19, 0)
    assert outside_quiet_hours(utc("2026-11-23 21:30"), evening, berlin) == utc("2026-11-24 08:00")  # 22:30 local
    assert outside_quiet_hours(utc("2026-11-24 02:00"), evening, berlin) == utc("2026-11-24 08:00")  # 03:00 local
    assert outside_quiet_hours(utc("2026-11-24 08:00"), evening, berlin) == utc("2026-11-24 08:00")  # 09:00 local
    assert outside_quiet_hours(utc("2026-11-23 19:59"), evening, berlin) == utc("2026-11-23 19:59")  # 20:59 local
    assert outside_quiet_hours(utc("2026-11-23 21:30"), time(22, 30), berlin) == utc("2026-11-23 21:30")


def test_snooze_is_a_day_later_and_never_at_night():
    assert snoozed(utc("2026-11-23 17:00"), time(18), "Europe/Berlin") == utc("2026-11-24 17:00")
    assert snoozed(utc("2026-11-23 21:00"), time(18), "Europe/Berlin") == utc("2026-11-25 08:00")  # 22:00 + 1 day


@pytest.mark.parametrize("typed, parsed", [("19:00", time(19)), ("7:45", time(7, 45)), (" 0930 ", time(9, 30)),
                                           ("20.15", time(20, 15)), ("21：05", time(21, 5)), ("24:00", None),
                                           ("7", None), ("evening", None), ("12:5", None), ("", None)])
def test_typed_times(typed, parsed):
    assert parse_time_of_day(typed) == parsed


def test_typed_zones():
    assert valid_zone(" Europe/Paris ") == "Europe/Paris"
    assert valid_zone("UTC") == "UTC"
    for wrong in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Europe"):
        assert valid_zone(wrong) is None, wrong


def test_a_schedule_for_staff_in_the_patients_local_time():
    reminder = Reminder(id=1, user_id=2, cadence="weekly", time_of_day=time(19), next_due_at=utc("2026-03-31 17:00"),
                        state="active", attempts=0, last_error=None, claimed_until=None,
                        updated_at=utc("2026-03-24 18:00"))
    berlin = ReminderSchedule(reminder, "Europe/Berlin")
    assert (berlin.zone, berlin.active, berlin.next_due_local.isoformat()) == (
        "Europe/Berlin", True, "2026-03-31T19:00:00+02:00")
    unknown = ReminderSchedule(reminder, None)
    assert unknown.zone == "UTC" and unknown.next_due_local.utcoffset() == timedelta(0)
