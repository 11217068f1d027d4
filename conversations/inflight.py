"""Work in progress, kept in the patient's stored conversation state, so neither a restart nor a full assessment
queue loses it.

    data["work"] = {message_id: {"job", "then", "args", "status": "running" | "queued", "owner", "at"}}

A marker is written in the transaction that asks for the work and removed in the one that takes its result. One
still there when its owner (a replica, named by REPLICA_ID) starts again, or older than the lease, was cut short
(kill -9, power loss); a "queued" one waits for a free worker. bot/service/recovery.py finds them and calls
Engine.resume_work: an assessment runs again (its photos and answers are stored), anything else asks the patient
to send it again.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from conversations.flows.turn import Work

WORK = "work"
RESUMABLE = {"assess"}  # every input is in the database; a photo check's photo is not (it is kept only once checked)
ARGS_KEPT = {"assess", "check_photo"}  # args that are plain JSON and needed to resume or to clean up


def record(data: dict, message_id: str, work: Work | None, *, owner: str, now: datetime,
           status: str = "running") -> None:
    """Marks the work a message asked for (none: forgets the message's marker)."""
    markers = dict(data.get(WORK) or {})
    if work is None:
        markers.pop(message_id, None)
    else:
        markers[message_id] = {"job": work.job, "then": work.then, "status": status, "owner": owner,
                               "at": now.isoformat(), "args": work.args if work.job in ARGS_KEPT else {}}
    if markers:
        data[WORK] = markers
    else:
        data.pop(WORK, None)


def marker(data: dict, message_id: str) -> dict[str, Any] | None:
    return (data.get(WORK) or {}).get(message_id)


def as_work(found: dict[str, Any]) -> Work:
    return Work(found["job"], found["args"], found["then"])
