"""My history: the past check-ins, a trend chart, a side-by-side of any two check-ins, and the first check-in
against the latest (the change in score and counts, and one region's photos side by side)."""
from __future__ import annotations

import secrets

from conversations.flows.names import COMPARE_FIRST, COMPARE_SECOND, HISTORY, MENU, SHOW_HISTORY
from conversations.flows.turn import Handler, Step, Turn, Work, entry
from conversations.messages import Image, Text
from conversations.summaries import (checkin_photos, comparison_text, date_label, grade_label, history_line,
                                     region_label)
from pipeline.types import ACNE_TYPES, REGIONS
from storage import NotFound, StoredAssessment

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
    _then_picture(turn, HISTORY, Work("trend", {"points": [(a.created_at, a.score) for a in charted],
                                                "locale": turn.locale}, then="picture_ready"),
                  caption="history.chart_caption", filename="trend.png")


async def ask_history_next(turn: Turn) -> None:
    options = [("menu", turn.t("common.back_to_menu"))]
    if len(await turn.db.assessments.list_assessments(turn.user.id, limit=2)) == 2:
        options[:0] = [("first_latest", turn.t("history.first_vs_latest")), ("compare", turn.t("history.compare"))]
    turn.ask("history.what_next", options)


async def history_choice(turn: Turn) -> None:
    if turn.action == "first_latest":
        return await first_vs_latest(turn)
    await turn.goto(COMPARE_FIRST if turn.action == "compare" else MENU)


async def first_vs_latest(turn: Turn) -> None:
    """The change since the first visit, then the same region of both visits' photos side by side."""
    everything = await turn.db.assessments.list_assessments(turn.user.id)
    if len(everything) < 2:
        return await turn.goto(MENU)
    first, latest = everything[0], everything[-1]
    turn.send(Text(turn.t("history.since_first") + "\n" + comparison_text(turn.locale, first, latest)))
    region = _common_region(first, latest)
    if region is None:
        turn.say("history.no_common_photo")
        return await turn.goto(MENU)
    shots = {"first": _region_photo(first, region), "latest": _region_photo(latest, region), "region": region,
             "locale": turn.locale}
    _then_picture(turn, MENU, Work("first_vs_latest", shots, then="picture_ready"),
                  caption="history.first_latest_caption", filename="first-vs-latest.jpg",
                  values={"region": region_label(turn.locale, region)}, missing="history.no_common_photo")


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
        turn.send(Image(picture, turn.t(args["caption"], **args["values"]), args["filename"]))
    elif args["missing"]:
        turn.say(args["missing"])
    if turn.step == args["step"] and turn.data.get("waiting") == args["waiting"]:
        turn.clear("waiting")
        await turn.reprompt()


def _then_picture(turn: Turn, step: str, work: Work, *, caption: str, filename: str, values: dict | None = None,
                  missing: str | None = None) -> None:
    """Go to `step`, but ask its question only after the picture (made between two transactions) is sent.
    values: the caption's placeholders; missing: what to say when the picture cannot be made (photos gone)."""
    turn.step = step
    turn.data["waiting"] = waiting = secrets.token_hex(2)
    turn.work = Work(work.job, {**work.args, "step": step, "waiting": waiting, "caption": caption,
                                "filename": filename, "values": values or {}, "missing": missing}, work.then)


async def _ask_pick(turn: Turn, key: str, exclude: int | None) -> None:
    items = [a for a in await turn.db.assessments.list_assessments(turn.user.id, limit=LISTED) if a.id != exclude]
    turn.ask(key, [(f"p.{a.id}", turn.t("history.option", date=date_label(a), grade=grade_label(turn.locale, a.grade),
                                          score=a.score)) for a in reversed(items)]
             + [("menu", turn.t("common.back_to_menu"))])


async def _picked(turn: Turn) -> StoredAssessment | None:
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


def _visit_photo(assessment: StoredAssessment) -> dict | None:
    """What the side-by-side needs of a visit: its first photo, its stored result and its date."""
    if not assessment.photo_ids:
        return None
    return {"photo_id": assessment.photo_ids[0], "result": assessment.result, "label": date_label(assessment)}


def _common_region(first: StoredAssessment, latest: StoredAssessment) -> str | None:
    """The region assessed at both visits with the most acne lesions at the first (the one to look at)."""
    both = [r for r in REGIONS if first.counts.get(r) is not None and latest.counts.get(r) is not None
            and _region_photo(first, r) and _region_photo(latest, r)]
    return max(both, key=lambda r: sum(first.counts[r].get(k, 0) for k in ACNE_TYPES), default=None)


def _region_photo(assessment: StoredAssessment, region: str) -> dict | None:
    """The visit's photo showing `region`: its close-up if it has one, else its (first) full-face photo."""
    photos = checkin_photos(assessment)
    chosen = (next((p for p in photos if p.region == region), None)
              or next((p for p in photos if p.region is None), None))
    if chosen is None:
        return None
    return {"photo_id": chosen.id, "declared": chosen.region, "day": date_label(assessment)}


STEPS: dict[str, Step] = {
    HISTORY: Step(ask_history_next, "expects.button", on_choice=history_choice),
    COMPARE_FIRST: Step(ask_first, "expects.button", on_choice=first_picked),
    COMPARE_SECOND: Step(ask_second, "expects.button", on_choice=second_picked),
    SHOW_HISTORY: entry(show_history),
}
COMMANDS: dict[str, Handler] = {"history": show_history}
CONTINUATIONS = {"picture_ready": picture_ready}
