"""Staff replies and closes during a handover, pushed to the patient's chat through the channel's Courier.

    service = HandoverService(engine, {"telegram": telegram_transport})
    delivery = await service.reply(user_id, staff_id, "Hello, I'm Dr Li.")
    if not delivery.delivered:
        show(delivery.problem)                 # "cannot be delivered", or a failure worth retrying

The transcript and the audit log are written by the engine before the push, so a reply that could not be
delivered is still on record (and the console can say so). A channel without a Courier cannot be pushed to:
"cannot be delivered". Message texts are never logged here.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.delivery import Courier, DeliveryFailed, Undeliverable
from conversations import Engine, Outgoing

log = logging.getLogger(__name__)
CANNOT_BE_DELIVERED = "cannot be delivered"
FAILED_TRY_AGAIN = "delivery failed; try again"
ALREADY_CLOSED = "already closed"


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    problem: str | None = None


class HandoverService:
    def __init__(self, engine: Engine, couriers: Mapping[str, Courier]):
        self.engine = engine
        self.couriers = couriers  # by reference: a transport set up later (the web chat) adds its own

    async def reply(self, user_id: int, staff_id: int, text: str) -> Delivery:
        """Raises conversations.flows.handover.HandoverNotHeld unless this staff member holds the handover."""
        return await self._push(user_id, await self.engine.staff_reply(user_id, staff_id, text))

    async def close(self, handover_id: int, staff_id: int) -> Delivery:
        handover = await self.engine.db.handovers.get_handover(handover_id)
        messages = await self.engine.close_handover(handover_id, staff_id)
        if not messages:
            return Delivery(False, ALREADY_CLOSED)
        return await self._push(handover.user_id, messages)

    async def _push(self, user_id: int, messages: Sequence[Outgoing]) -> Delivery:
        user = await self.engine.db.users.get_user(user_id)
        courier = self.couriers.get(user.channel)
        problem = None
        if courier is None:
            problem = CANNOT_BE_DELIVERED
        else:
            try:
                await courier.deliver(user.platform_user_id, messages, purpose="staff")
            except Undeliverable:
                problem = CANNOT_BE_DELIVERED
            except DeliveryFailed:
                problem = FAILED_TRY_AGAIN
        if problem:
            log.info("handover message to user %s (%s): %s", user_id, user.channel, problem)
            return Delivery(False, problem)
        return Delivery(True)
