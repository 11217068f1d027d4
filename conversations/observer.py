"""Hooks the engine calls as it works, for whoever wants to count or time it (bot/service/metrics.py does); the
dialog itself knows nothing about what they feed. The defaults do nothing."""
from __future__ import annotations


class Observer:
    def turn_handled(self, channel: str, kind: str, seconds: float) -> None:
        """One inbound event answered (slow work included); duplicates too."""

    def job_done(self, job: str, outcome: str, seconds: float) -> None:
        """Slow work finished: job is a conversations.jobs name ("assess", "check_photo", ...); outcome is
        "ok", "unusable" (the photos failed their quality check) or "failed" (an error)."""


def job_outcome(result: object) -> str:
    if isinstance(result, BaseException):
        return "failed"
    return "ok" if getattr(result, "ok", True) else "unusable"
