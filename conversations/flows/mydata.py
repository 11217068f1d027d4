"""My data: what is stored about the patient, editing the profile answers, exporting it all, erasing everything."""
from __future__ import annotations

import secrets

from conversations.flows.names import CONFIRM_DELETE, EDIT_PROFILE, MENU, MY_DATA
from conversations.flows.turn import Handler, Step, Turn, Work
from conversations.messages import File, Typing
from conversations.questionnaire import PROFILE_QUESTIONS
from conversations.summaries import answer_label


async def my_data(turn: Turn) -> None:
    await turn.goto(MY_DATA)


async def show_my_data(turn: Turn) -> None:
    counts = await turn.db.erasure.count_rows_for_user(turn.user.id)
    profile = await turn.db.profiles.load_profile(turn.user.id)
    answers = profile.answers if profile else {}
    lines = [turn.t("data.stored", checkins=counts.get("assessments", 0), photos=counts.get("photos", 0),
                    messages=counts.get("message_log", 0)),
             "", turn.t("data.profile_title")]
    lines += [f"• {turn.t(f'field.{q.id}')}: {answer_label(turn, q, answers.get(q.id))}" for q in PROFILE_QUESTIONS]
    lines += ["", turn.t("data.how_long", photo_days=turn.photo_retention_days)]
    turn.ask_text("\n".join(lines), [("edit", turn.t("data.edit")), ("export", turn.t("data.export")),
                                     ("delete", turn.t("data.delete")), ("menu", turn.t("common.back_to_menu"))])


async def my_data_choice(turn: Turn) -> None:
    if turn.action == "edit":
        await turn.goto(EDIT_PROFILE)
    elif turn.action == "export":
        await export(turn)
    elif turn.action == "delete":
        await turn.goto(CONFIRM_DELETE)
    else:
        await turn.goto(MENU)


async def confirm_delete(turn: Turn) -> None:
    await turn.goto(CONFIRM_DELETE)


async def ask_delete(turn: Turn) -> None:
    turn.ask("delete.confirm", [("yes", turn.t("delete.yes")), ("no", turn.t("delete.no"))])


async def delete_chosen(turn: Turn) -> None:
    if turn.action != "yes":
        turn.say("delete.kept")
        return await turn.goto(MENU)
    await turn.db.erasure.delete_user_data(turn.user.id)
    turn.erased = True
    turn.say("delete.done")


async def export(turn: Turn) -> None:
    """/export: the ZIP is built between two transactions (engine: Work), then sent; the menu follows it."""
    turn.say("export.preparing")
    turn.send(Typing())
    turn.step = MENU
    turn.data["waiting"] = waiting = secrets.token_hex(2)
    turn.work = Work("export", {"locale": turn.locale, "waiting": waiting}, then="export_ready")


async def export_ready(turn: Turn, args: dict, archive: bytes | BaseException) -> None:
    if isinstance(archive, bytes):
        turn.send(File(f"acnebot-export-{turn.now.date().isoformat()}.zip", archive, turn.t("export.caption")))
    else:
        turn.say("export.failed")
    if turn.step == MENU and turn.data.get("waiting") == args["waiting"]:
        turn.clear("waiting")
        await turn.reprompt()


STEPS: dict[str, Step] = {
    MY_DATA: Step(show_my_data, "expects.button", on_choice=my_data_choice),
    CONFIRM_DELETE: Step(ask_delete, "expects.button", on_choice=delete_chosen),
}
COMMANDS: dict[str, Handler] = {"data": my_data, "delete": confirm_delete, "export": export}
CONTINUATIONS = {"export_ready": export_ready}
