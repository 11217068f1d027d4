"""My history: the past check-ins, a trend chart, and a side-by-side of any two check-ins."""
from __future__ import annotations

import secrets

from conversations.flows.names import COMPARE_FIRST, COMPARE_SECOND, HISTORY, MENU
from conversations.flows.turn import Turn, Work
from conversations.messages import Image, Text
from conversations.summaries import comparison_text, date_label, grade_label, history_line
from storage import Assessment, NotFound

LISTED = 10  # check-ins listed and offered for comparison: the latest ones
CHARTED = 200


async def show_history(turn: Turn) -> None:
    charted = await turn.db.assessments.list_assessments(turn.user.id, limit=CHARTED)
    if not charted:
        turn.say("history.empty")
        return await turn.goto(MENU)
    listed = charted[-LISTED:]
    first = len(charted) - len(listed) + 1
    turn.send(Text("\n".join([turn.t("history.title", n=len(charted))]
                             + [history_line(turn.locale, first + i, a) for i, a in enumerate(listed)])))
    _then_picture(turn, HISTORY, Work("trend", {"points": [(a.created_at, a.score) for a in charted]},
                                      then="picture_ready"), caption="history.chart_caption", filename="trend.png")


async def ask_history_next(turn: Turn) -> None:
    options = [("menu", turn.t("common.back_to_menu"))]
    if len(await turn.db.assessments.list_assessments(turn.user.id, limit=2)) == 2:
        options.insert(0, ("compare", turn.t("history.compare")))
    turn.ask("history.what_next", options)


async def history_choice(turn: Turn) -> None:
    await turn.goto(COMPARE_FIRST if turn.action == "compare" else MENU)


async def ask_first(turn: Turn) -> None:
    await _ask_pick(turn, "history.pick_first", exclude=None)


async def ask_second(turn: Turn) -> None:
    await _ask_pick(turn, "history.pick_second", exclude=turn.data.get("compare", {}).get("first"))


async def first_picked(turn: Turn) -> None:
    picked = await _picked(turn)
    if picked is None:
        return
    turn.data["compare"] = {"first": picked.id}
    await turn.goto(COMPARE_SECOND)


async def second_picked(turn: Turn) -> None:
    picked = await _picked(turn)
    if picked is None:
        return
    try:
        other = await turn.db.assessments.get_assessment(turn.data["compare"]["first"], turn.user.id)
    except (KeyError, NotFound):
        return await turn.goto(COMPARE_FIRST)
    before, after = sorted([other, picked], key=lambda a: (a.created_at, a.id))
    turn.clear("compare")
    turn.send(Text(comparison_text(turn.locale, before, after)))
    visits = [_visit_photo(a) for a in (before, after)]
    _then_picture(turn, MENU, Work("side_by_side", {"visits": visits}, then="picture_ready"),
                  caption="history.side_by_side_caption", filename="comparison.jpg")


async def picture_ready(turn: Turn, args: dict, picture: bytes | None | BaseException) -> None:
    """The chart or side-by-side picture, then the prompt that was waiting for it (unless the patient moved on)."""
    if isinstance(picture, bytes):
        turn.send(Image(picture, turn.t(args["caption"]), args["filename"]))
    if turn.step == args["step"] and turn.data.get("waiting") == args["waiting"]:
        turn.clear("waiting")
        await turn.reprompt()


def _then_picture(turn: Turn, step: str, work: Work, *, caption: str, filename: str) -> None:
    """Go to `step`, but ask its question only after the picture (made between two transactions) is sent."""
    turn.step = step
    turn.data["waiting"] = waiting = secrets.token_hex(2)
    turn.work = Work(work.job, {**work.args, "step": step, "waiting": waiting, "caption": caption,
                                "filename": filename}, work.then)


async def _ask_pick(turn: Turn, key: str, exclude: int | None) -> None:
    items = [a for a in await turn.db.assessments.list_assessments(turn.user.id, limit=LISTED) if a.id != exclude]
    turn.ask(key, [(f"p.{a.id}", turn.t("history.option", date=date_label(a), grade=grade_label(turn.locale, a.grade),
                                          score=a.score)) for a in reversed(items)]
             + [("menu", turn.t("common.back_to_menu"))])


async def _picked(turn: Turn) -> Assessment | None:
    if turn.action == "menu":
        turn.clear("compare")
        await turn.goto(MENU)
        return None
    kind, _, number = turn.action.partition(".")
    try:
        return await turn.db.assessments.get_assessment(int(number), turn.user.id)
    except (ValueError, NotFound):
        await turn.reprompt()
        return None


def _visit_photo(assessment: Assessment) -> dict | None:
    """What the side-by-side needs of a visit: its first photo, that photo's lesions and turn, and its date."""
    if not assessment.photo_ids:
        return None
    photos = assessment.result.get("photos") or [{}]
    lesions = [l for l in assessment.result.get("lesions", []) if l.get("photo", 0) == 0]
    return {"photo_id": assessment.photo_ids[0], "lesions": lesions, "rotated": photos[0].get("rotated", 0),
            "label": date_label(assessment)}
