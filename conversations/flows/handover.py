"""Talk to a person: /human (or the menu) opens a handover; until it is closed, whatever the patient sends is
kept in the message log for the staff console and acknowledged once, instead of running through the flows.
"Back to the bot" (or /bot, /cancel) closes it; a staff member closing it from the console ends it too
(Engine.close_handover), and the patient is told either way."""
from __future__ import annotations

from conversations.flows.names import HANDOVER, MENU, TALK_TO_PERSON
from conversations.flows.turn import Handler, Step, Turn, entry

COMMANDS_THAT_END_IT = ("bot", "cancel")  # any other command during a handover is a message to the person


class HandoverNotHeld(Exception):
    """A staff reply to a patient whose handover this staff member has not taken (or that is closed)."""


async def talk_to_person(turn: Turn) -> None:
    await turn.db.handovers.open_handover(turn.user.id)
    turn.clear("checkin", "quiz", "analysis", "compare", "back_to", "acked")
    await turn.goto(HANDOVER)


async def ask_handover(turn: Turn) -> None:
    turn.ask("person.opened", [("bot", turn.t("person.back_to_bot"))])


async def patient_message(turn: Turn) -> None:
    """Kept for the person (the engine logs it; a photo is stored so the console can show it), answered once."""
    if await turn.db.handovers.active_handover(turn.user.id) is None:  # closed while the state said otherwise
        return await turn.goto(MENU)
    event = turn.event
    if event.kind == "photo":
        turn.photo_id = await turn.db.photos.save_photo(turn.user.id, event.photo)
    if not turn.data.get("acked"):
        turn.data["acked"] = True
        turn.ask("person.ack", [("bot", turn.t("person.back_to_bot"))])


async def handover_choice(turn: Turn) -> None:
    if turn.action == "bot":
        return await back_to_bot(turn)
    await patient_message(turn)


async def back_to_bot(turn: Turn) -> None:
    """/bot: ends the handover (if any) and shows the menu."""
    active = await turn.db.handovers.active_handover(turn.user.id)
    if active is not None:
        await turn.db.handovers.close(active.id)
    turn.clear("acked")
    turn.say("person.closed_by_patient" if active is not None else "person.none")
    await turn.goto(MENU)


async def closed_by_staff(turn: Turn) -> None:
    """The console closed the handover: tell the patient and leave them at the menu."""
    turn.clear("acked")
    turn.say("person.closed_by_staff")
    if turn.step == HANDOVER:
        await turn.goto(MENU)


STEPS: dict[str, Step] = {
    HANDOVER: Step(ask_handover, "expects.person", on_choice=handover_choice, on_text=patient_message,
                   on_photo=patient_message),
    TALK_TO_PERSON: entry(talk_to_person),
}
COMMANDS: dict[str, Handler] = {"human": talk_to_person, "bot": back_to_bot}
