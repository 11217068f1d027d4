"""When a check-in reminder is due: cadence, the patient's time of day in their own time zone, quiet hours.

    due = next_due(after=now, cadence="weekly", time_of_day=time(19), zone="Europe/Berlin")

Times are computed on the patient's wall clock with zoneinfo and stored in UTC, so 19:00 stays 19:00 local
across a daylight-saving change. Quiet hours (21:00-09:00 local) hold back anything the patient did not ask
for at that hour (a snooze, a retry, a reminder sent late): it waits for 09:00. A time of day chosen inside
them is the patient's wish and is kept.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CADENCE_DAYS = {"weekly": 7, "biweekly": 14, "monthly": 30}
QUIET_START, QUIET_END = time(21, 0), time(9, 0)
SNOOZE = timedelta(days=1)
DEFAULT_ZONE = "UTC"


def zone_info(name: str | None) -> ZoneInfo:
    """The zone by IANA name; UTC when none was given or the name is unknown."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ("Europe")
        return ZoneInfo(DEFAULT_ZONE)


def valid_zone(name: str) -> str | None:
    """The IANA name as zoneinfo knows it ("europe/berlin" -> None, "Europe/Berlin" -> itself), else None."""
    name = name.strip()
    if not name or name.startswith("/") or ".." in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ("Europe")
        return None
    return name


def in_quiet_hours(moment: time) -> bool:
    return moment >= QUIET_START or moment < QUIET_END


def at_local(day, time_of_day: time, zone: ZoneInfo) -> datetime:
    """`time_of_day` on `day` on the zone's wall clock, as UTC (a time skipped by a DST change moves forward)."""
    local = datetime.combine(day, time_of_day, tzinfo=zone)
    return local.astimezone(UTC)


def next_due(after: datetime, cadence: str, time_of_day: time, zone: str | None,
             scheduled: datetime | None = None) -> datetime:
    """The next reminder: the cadence's days after `scheduled` (the reminder just sent; else `after`), at the
    patient's time of day, and always later than `after` (a dispatcher that was down skips missed ones)."""
    tz = zone_info(zone)
    days = CADENCE_DAYS[cadence]
    day = (scheduled or after).astimezone(tz).date() + timedelta(days=days)
    due = at_local(day, time_of_day, tz)
    while due <= after:
        day += timedelta(days=days)
        due = at_local(day, time_of_day, tz)
    return due


def first_due(now: datetime, cadence: str, time_of_day: time, zone: str | None) -> datetime:
    """When a newly set schedule first reminds: one cadence from now."""
    return next_due(now, cadence, time_of_day, zone)


def outside_quiet_hours(moment: datetime, time_of_day: time, zone: str | None) -> datetime:
    """`moment`, or 09:00 local after it when it falls in quiet hours (unless the patient chose such a time)."""
    tz = zone_info(zone)
    local = moment.astimezone(tz)
    if in_quiet_hours(time_of_day) or not in_quiet_hours(local.time()):
        return moment
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    return at_local(day, QUIET_END, tz)


def snoozed(now: datetime, time_of_day: time, zone: str | None) -> datetime:
    return outside_quiet_hours(now + SNOOZE, time_of_day, zone)


def parse_time_of_day(text: str) -> time | None:
    """"19:00", "7:30", "0930" -> a time; anything else -> None."""
    text = text.strip().replace(".", ":").replace("：", ":")
    if ":" not in text and text.isdigit() and len(text) in (3, 4):
        text = f"{text[:-2]}:{text[-2:]}"
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and 1 <= len(hours) <= 2):
        return None
    h, m = int(hours), int(minutes)
    return time(h, m) if h < 24 and m < 60 else None
