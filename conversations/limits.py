"""How much one patient may do (RATE_MESSAGES_PER_MINUTE, RATE_CHECKINS_PER_DAY); counted in the database
(storage/repositories/limits.py) so that every replica counts the same."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

MESSAGE, CHECKIN = "message", "checkin"
REFUSALS = {MESSAGE: "rate.message", CHECKIN: "rate.checkin"}  # what a patient over a limit is told, once


@dataclass(frozen=True)
class RateLimits:
    messages_per_minute: int = 120
    checkins_per_day: int = 10

    def rule(self, kind: str) -> tuple[int, timedelta]:
        if kind == MESSAGE:
            return self.messages_per_minute, timedelta(minutes=1)
        return self.checkins_per_day, timedelta(days=1)
