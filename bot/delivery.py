"""Sending to a patient outside a reply (reminders, staff replies during a handover, exports).

Each messenger transport is a `Courier` for its channel: it pushes `Outgoing` messages to a platform user id
when there is no inbound update to answer. It raises `Undeliverable` when the patient cannot be reached any
more (blocked the bot, unsubscribed, outside a window with no fallback): the caller must not retry and should
stop what it was sending. Any other failure is `DeliveryFailed` (network, 5xx, rate limit): worth a retry later.

    couriers = {"telegram": telegram_transport, "wechat": wechat_transport}
    await couriers[user.channel].deliver(user.platform_user_id, messages, purpose="reminder")
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from conversations.messages import Outgoing

# "reminder" lets a channel choose its out-of-window form (WeChat: a template message after 48 hours).
Purpose = Literal["reminder", "staff", "export", "result"]


class Undeliverable(Exception):
    """The patient cannot be reached on this channel (blocked, unsubscribed, deleted): do not retry."""


class DeliveryFailed(Exception):
    """A failure that may pass (network, server error, rate limit): retry later."""


class Courier(Protocol):
    channel: str

    async def deliver(self, platform_user_id: str, messages: Sequence[Outgoing], *, purpose: Purpose) -> None:
        """Sends the messages in order; raises Undeliverable or DeliveryFailed."""
        ...
