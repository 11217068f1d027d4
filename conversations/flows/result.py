"""The assessment and the result, in two messages: the annotated photo captioned with the grade and score, the
change since last time, the doctor notice and the counts (a transport whose captions are short sends the text
apart, next to the photo); then the advice, under which the menu asks what next (and offers reminders)."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from conversations.flows.names import (AFTER_RESULT, ANALYSING, ANALYSIS_FAILED, MENU, START_ANALYSIS,
                                       STILL_ANALYSING)
from conversations.flows.turn import Step, Turn, Work, entry
from conversations.messages import Image, Text, Typing
from conversations.summaries import advice_text, result_text
from pipeline.pose import Pose
from pipeline.result import AssessmentResult, CheckinPhoto, PoseCheck, Visit
from storage import StoredAssessment
from work.jobs import Outcome

log = logging.getLogger(__name__)
# A patient writing to a check-in this long after its analysis started finds it restarted: the process that
# ran it has gone (a restart or a crash between the two transactions).
ANALYSIS_TIMEOUT = timedelta(minutes=3)


async def start_analysis(turn: Turn) -> None:
    quiz = turn.data.pop("quiz", None)
    checkin = turn.data["checkin"]
    if quiz is not None:
        checkin["answers"] = {**quiz["known"], **quiz["answers"]}
        checkin["asked"] = quiz.get("asked", {})  # when each visit answer was last given (red flags expire)
    turn.data["analysis"] = {"started": turn.now.isoformat()}
    await turn.goto(ANALYSING)
    # A photo of this check-in stored twice (the same bytes) has one id: assess it once.
    unique: dict[int, list] = {}
    for p in checkin["photos"]:
        if p["status"] == "ok":
            unique.setdefault(p["id"], [p["id"], p["region"]])
    photos = list(unique.values())
    turn.work = Work("assess", {"checkin": checkin["id"], "photos": photos, "answers": checkin["answers"],
                                "locale": turn.locale}, then="assessed")


async def ask_to_wait(turn: Turn) -> None:
    turn.expect("result.analysing")
    turn.send(Typing())


async def still_analysing(turn: Turn) -> None:
    started = datetime.fromisoformat(turn.data.get("analysis", {}).get("started", turn.now.isoformat()))
    if turn.now - started > ANALYSIS_TIMEOUT:
        return await start_analysis(turn)
    turn.say("result.still_analysing")


async def ask_retry(turn: Turn) -> None:
    turn.ask("result.retry_question", [("retry", turn.t("result.retry")), ("menu", turn.t("common.back_to_menu"))])


async def retry_chosen(turn: Turn) -> None:
    if turn.action == "retry":
        return await start_analysis(turn)
    turn.clear("checkin")
    await turn.goto(MENU)


async def assessed(turn: Turn, args: dict, outcome: Outcome | BaseException) -> None:
    checkin = turn.data.get("checkin")
    if turn.step != ANALYSING or not checkin or checkin["id"] != args["checkin"]:
        return  # cancelled, or restarted and answered by a later run
    turn.clear("analysis")
    if isinstance(outcome, BaseException):
        log.error("assessment failed for user %s", turn.user.id, exc_info=outcome)
        turn.say("result.failed")
        return await turn.goto(ANALYSIS_FAILED)
    if not outcome.ok:  # cannot happen with photos that passed their check, unless the pipeline changed
        turn.clear("checkin")
        turn.say("result.unusable")
        return await turn.goto(MENU)
    assessed_ids = [photo_id for photo_id, _ in args["photos"]]
    kept = {p["id"]: p for p in checkin["photos"] if "id" in p}
    photos = tuple(CheckinPhoto(photo_id, region, kept.get(photo_id, {}).get("rotated", 0),
                                Pose.from_dict(kept.get(photo_id, {}).get("pose")))
                   for photo_id, region in args["photos"])
    # answers: for the export and the next check-in ("Nothing changed"); asked: when each visit answer was given
    visit = Visit(photos, args["answers"], checkin.get("asked", {}), **pose_of_checkin(checkin, photos))
    result = replace(outcome.result, visit=visit)
    previous = await turn.db.assessments.latest_assessment(turn.user.id)
    saved = await turn.db.assessments.save_assessment(turn.user.id, result, assessed_ids)
    send_result(turn, result, outcome.annotated, previous, saved)
    turn.clear("checkin")
    await turn.goto(AFTER_RESULT, advice=advice_text(turn.locale, result))  # the advice, with the menu under it


def pose_of_checkin(checkin: dict, photos: tuple[CheckinPhoto, ...]) -> dict:
    """A full-face check-in's pose (its first photo's), for the next one to be compared with, and how it compared
    with the previous full-face check-in: the Visit's pose and pose_check, where there are."""
    face = next((p for p in photos if p.region is None and p.pose is not None), None)
    if checkin.get("mode") != "face" or face is None:
        return {}
    checked = checkin.get("pose") or {}
    return {"pose": face.pose, **({"pose_check": PoseCheck(checked["since"], tuple(checked["differences"]))}
                                  if checked.get("since") else {})}


def send_result(turn: Turn, result: AssessmentResult, pictures: tuple[bytes, ...], before: StoredAssessment | None,
                after: StoredAssessment | None) -> None:
    """The result as one message: the first annotated photo with the whole text as its caption (further photos
    of the visit follow it), or the text alone when there is no picture."""
    text = result_text(turn.locale, result, before, after)
    if not pictures:
        return turn.send(Text(text))
    for i, picture in enumerate(pictures):
        turn.send(Image(picture, text if i == 0 else "", f"checkin-{i + 1}.jpg"))


STEPS: dict[str, Step] = {
    ANALYSING: Step(ask_to_wait, "expects.wait", on_choice=still_analysing, on_text=still_analysing,
                    on_photo=still_analysing),
    ANALYSIS_FAILED: Step(ask_retry, "expects.button", on_choice=retry_chosen),
    START_ANALYSIS: entry(start_analysis),
    STILL_ANALYSING: entry(still_analysing),
}
CONTINUATIONS = {"assessed": assessed}
