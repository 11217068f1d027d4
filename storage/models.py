"""The tables, as typed SQLAlchemy models. Every table holding a user's data references users.id, so
erasure (repositories/erasure.py) and its proof (count_rows_for_user) can find it by foreign key."""
from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import (Boolean, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, Time,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.columns import BigId, Json, UTCDateTime

# Stable constraint names, so later migrations (and SQLite batch mode) can address them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def user_fk(**kwargs: Any) -> Mapped[Any]:
    return mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), **kwargs)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    platform_user_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    consent: Mapped[str] = mapped_column(String(16), default="pending")  # pending | accepted | declined
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Profile(Base):
    __tablename__ = "profiles"

    user_id: Mapped[int] = user_fk(primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationState(Base):
    __tablename__ = "conversation_states"

    user_id: Mapped[int] = user_fk(primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(64))
    step: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedMessage(Base):
    __tablename__ = "processed_messages"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int | None] = user_fk(index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = user_fk()
    region: Mapped[str | None] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # loaded by load_photo only
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_photos_user_id_sha256", "user_id", "sha256"),)


class MessageLog(Base):
    __tablename__ = "message_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = user_fk()
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    photo_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("photos.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_message_log_user_id_created_at", "user_id", "created_at"),)


class AssessmentRow(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = user_fk()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(16))
    grade_personalised: Mapped[str | None] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(Json)  # region -> {type: n}, null when not assessed
    result: Mapped[dict[str, Any]] = mapped_column(Json)  # pipeline.result.AssessmentResult.to_json()
    model_version: Mapped[str | None] = mapped_column(String(128))
    referral: Mapped[bool] = mapped_column(Boolean)
    photo_ids: Mapped[list[int]] = mapped_column(Json)

    __table_args__ = (Index("ix_assessments_user_id_created_at", "user_id", "created_at"),)


class Reminder(Base):
    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = user_fk(unique=True)
    cadence: Mapped[str] = mapped_column(String(16))
    time_of_day: Mapped[time] = mapped_column(Time)  # the patient's local time; users.timezone says which
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))  # active | claimed | stopped | failed
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_reminders_state_next_due_at", "state", "next_due_at"),)


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    staff_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    # Kept when the patient is erased (who did what stays accountable), but unlinked from them.
    subject_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"),
                                                        index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)


class KeyValue(Base):
    __tablename__ = "kv_cache"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Handover(Base):
    """A patient's request to talk to a person: open (waiting), taken (a staff member has it), closed."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = user_fk(index=True)
    status: Mapped[str] = mapped_column(String(16))  # open | taken | closed
    taken_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_accounts.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_handovers_status_opened_at", "status", "opened_at"),)


class ChannelContact(Base):
    """How a patient can be reached on their messenger (WeChat: the 48-hour window, unsubscribed)."""

    __tablename__ = "channel_contacts"

    user_id: Mapped[int] = user_fk(primary_key=True)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # unsubscribed/blocked since
    prompt_options: Mapped[list[str] | None] = mapped_column(Json)  # data of the last numbered prompt's options


class StaffSession(Base):
    """A console login; the cookie holds the token, the table only its SHA-256."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed console logins per key ("user:<name>", "ip:<address>"), shared by every replica."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateBucket(Base):
    """A patient's token bucket for one kind of action (messages, check-ins): stored so every replica sees the
    same count; updated inside the turn's transaction, under the patient's state-row lock."""

    __tablename__ = "rate_buckets"

    user_id: Mapped[int] = user_fk(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)  # told "slow down" since the last one allowed


class WorkItem(Base):
    """Slow work a turn asked for (a photo check, an assessment, a picture, an export), from the transaction that
    asks for it to the one that takes its result: claimed by one owner (a replica or `acnebot worker`, by
    REPLICA_ID) for a lease; a row whose lease ran out is anybody's. status: queued (no owner) | running."""

    __tablename__ = "work"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = user_fk()
    message_id: Mapped[str] = mapped_column(String(128))  # the patient's message this work answers
    job: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(Json)
    then: Mapped[str] = mapped_column(String(32))  # the flow's continuation, by name
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # What a claim filters (status, then the lease) and what a replica takes back at start-up (its owner name).
    __table_args__ = (Index("ix_work_status_lease_until", "status", "lease_until"),
                      Index("ix_work_owner", "owner"), Index("ix_work_user_id", "user_id"))
