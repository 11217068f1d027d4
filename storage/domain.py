"""What the repositories return: plain frozen dataclasses, detached from any session."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Consent = Literal["pending", "accepted", "declined"]
Direction = Literal["in", "out"]
ReminderState = Literal["active", "claimed", "stopped", "failed"]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    channel: str
    platform_user_id: str
    locale: str | None
    timezone: str | None
    consent: Consent
    consent_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: int
    answers: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ConversationState:
    """`version` is what the row had when loaded; save_state refuses to overwrite a newer one."""

    user_id: int
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    id: int
    user_id: int
    direction: Direction
    kind: str
    text: str | None
    photo_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    id: int
    user_id: int
    region: str | None
    sha256: str
    size: int
    key_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    id: int
    user_id: int
    created_at: datetime
    score: int
    grade: str
    grade_personalised: str | None
    counts: dict[str, dict[str, int] | None]  # region -> {lesion type: n}; None where not assessed
    result: dict[str, Any]  # pipeline.result.AssessmentResult.to_json(): read it with AssessmentResult.from_json
    model_version: str | None
    referral: bool
    photo_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Reminder:
    id: int
    user_id: int
    cadence: str
    time_of_day: time
    next_due_at: datetime
    state: ReminderState
    attempts: int
    last_error: str | None
    claimed_until: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReminderSchedule:
    """A patient's reminder as staff see it: in the patient's time zone (UTC until they chose one)."""

    reminder: Reminder
    timezone: str | None

    @property
    def zone(self) -> str:
        try:
            ZoneInfo(self.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ("Europe")
            return "UTC"
        return self.timezone or "UTC"

    @property
    def next_due_local(self) -> datetime:
        return self.reminder.next_due_at.astimezone(ZoneInfo(self.zone))

    @property
    def active(self) -> bool:
        return self.reminder.state in ("active", "claimed")


@dataclass(frozen=True, slots=True)
class StaffAccount:
    id: int
    username: str
    password_hash: str
    role: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    staff_id: int | None
    action: str
    subject_user_id: int | None
    detail: dict[str, Any] | None


HandoverStatus = Literal["open", "taken", "closed"]


@dataclass(frozen=True, slots=True)
class Handover:
    id: int
    user_id: int
    status: HandoverStatus
    taken_by: int | None
    opened_at: datetime
    taken_at: datetime | None
    closed_at: datetime | None
    closed_by: int | None  # None on a closed handover: the patient went back to the bot


@dataclass(frozen=True, slots=True)
class QueuedHandover:
    """A handover in the console's queue: who asked, and their latest check-in (None before the first)."""

    handover: Handover
    user: User
    last_assessment: StoredAssessment | None


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A row of the work table (storage/repositories/work.py)."""

    id: int
    user_id: int
    message_id: str
    job: str
    args: dict[str, Any]
    then: str
    status: Literal["queued", "running"]
    owner: str | None
    lease_until: datetime | None
    attempts: int
    created_at: datetime
