"""The questionnaire, one question per prompt: profile questions not yet answered, then the visit questions.

A first check-in asks them all, its first prompt offering once "Skip the questions" (the intro says what the
advice then cannot take into account). A returning patient (a check-in with answers on file) is asked only profile
questions never asked before, then one prompt, CHANGES: "Anything new since <date>?" -> Nothing changed (the
visit answers of the last check-in are kept, one tap) or Update (the visit questions again, each showing the
answer on file; "Keep" keeps it). Red-flag answers older than RED_FLAGS_KEPT_DAYS are asked again either way.

State: quiz = {purpose: checkin|profile, queue: [question ids], known: profile answers, answers: this quiz's
visit answers, toggled: the current multiple-choice selection, asked: {visit question id: ISO date last asked},
offer_skip_all: until the first answer of a first check-in,
and for a returning patient since (the last check-in's date), previous (its visit answers), changes (None until
the CHANGES prompt is answered, then "same" or "update")}. Profile answers are saved to the profile as they are
given, so a check-in abandoned half-way does not ask them again.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from conversations.flows.names import (CHANGES, CHECKIN_PHOTO, CHECKIN_QUESTIONS, EDIT_PROFILE, MY_DATA, QUESTION,
                                       START_ANALYSIS)
from conversations.flows.turn import Step, Turn, entry, goes_to
from conversations.questionnaire import (PROFILE_QUESTIONS, QUESTIONS, RED_FLAG_QUESTIONS, RED_FLAGS_KEPT_DAYS,
                                         VISIT_QUESTIONS, Question, parse_number)
from conversations.summaries import answer_label, date_label, visit_of

CHECKED = "✓ "
VISIT_IDS = tuple(q.id for q in VISIT_QUESTIONS)


async def start_checkin_questions(turn: Turn) -> None:
    known = await _profile_answers(turn)
    previous = await turn.db.assessments.latest_assessment(turn.user.id)
    visit = visit_of(previous) if previous is not None else None
    on_file = visit.answers if visit is not None else None
    if isinstance(on_file, dict):  # an answer asked per visit before it was asked once (duration) is not asked again
        moved = {q.id: on_file[q.id] for q in PROFILE_QUESTIONS if q.id not in known and q.id in on_file}
        if moved:
            known.update(moved)
            await turn.db.profiles.save_profile(turn.user.id, dict(known))
    queue = [q.id for q in PROFILE_QUESTIONS if q.id not in known]
    quiz = {"purpose": "checkin", "queue": queue, "known": known, "answers": {}, "toggled": [], "asked": {}}
    if isinstance(on_file, dict):  # a returning patient: their visit answers can be kept with one tap
        since = date_label(previous)
        quiz.update(since=since, changes=None, previous={k: on_file[k] for k in VISIT_IDS if k in on_file},
                    asked_before={k: visit.asked.get(k, since)
                                  for k in VISIT_IDS if k in on_file})
    else:
        queue += VISIT_IDS
        quiz["offer_skip_all"] = True
    turn.data["quiz"] = quiz
    if queue:
        turn.say("questions.intro_first" if "offer_skip_all" in quiz else "questions.intro")
    await next_question(turn)


async def edit_profile(turn: Turn) -> None:
    turn.data["quiz"] = {"purpose": "profile", "queue": [q.id for q in PROFILE_QUESTIONS],
                         "known": await _profile_answers(turn), "answers": {}, "toggled": []}
    turn.say("questions.edit_intro")
    await next_question(turn)


async def next_question(turn: Turn) -> None:
    quiz = turn.data["quiz"]
    answers = {**quiz["known"], **quiz["answers"]}
    while quiz["queue"] and not QUESTIONS[quiz["queue"][0]].asked(answers):
        quiz["queue"].pop(0)
    quiz["toggled"] = []
    if quiz["queue"]:
        current = _on_file(quiz, current_question(turn))
        if isinstance(current, list):
            quiz["toggled"] = list(current)  # the answer on file, to change rather than to give again
        return await turn.goto(QUESTION)
    if quiz["purpose"] == "checkin":
        if "changes" in quiz and quiz["changes"] is None:
            return await turn.goto(CHANGES)
        return await turn.goto(START_ANALYSIS)
    turn.clear("quiz")
    turn.say("data.profile_saved")
    await turn.goto(MY_DATA)


# -- a returning patient: anything new since last time? ---------------------------------------------------------
async def ask_changes(turn: Turn) -> None:
    quiz = turn.data["quiz"]
    text = turn.t("questions.changes", date=quiz["since"])
    if _stale_red_flags(turn):
        text += "\n" + turn.t("questions.red_flags_again", days=RED_FLAGS_KEPT_DAYS)
    turn.ask_text(text, [("same", turn.t("questions.nothing_changed")), ("update", turn.t("questions.update"))])


async def changes_chosen(turn: Turn) -> None:
    quiz = turn.data["quiz"]
    if turn.action not in ("same", "update"):
        return await turn.reprompt()
    quiz["changes"] = turn.action
    quiz["answers"] = dict(quiz["previous"])
    quiz["asked"] = dict(quiz["asked_before"])
    # Nothing changed: only the red flags on file for too long are asked again; Update: every visit question.
    quiz["queue"] = _stale_red_flags(turn) if turn.action == "same" else list(VISIT_IDS)
    await next_question(turn)


def _stale_red_flags(turn: Turn) -> list[str]:
    """The red-flag questions whose answer on file was given more than RED_FLAGS_KEPT_DAYS ago (or never)."""
    quiz = turn.data["quiz"]
    oldest = turn.now.date() - timedelta(days=RED_FLAGS_KEPT_DAYS)
    return [k for k in RED_FLAG_QUESTIONS if date.fromisoformat(quiz["asked_before"].get(k, "1970-01-01")) < oldest]


# -- one question ------------------------------------------------------------------------------------------------
def current_question(turn: Turn) -> Question:
    return QUESTIONS[turn.data["quiz"]["queue"][0]]


async def ask_question(turn: Turn, *, edit: bool = False) -> None:
    quiz = turn.data["quiz"]
    q = current_question(turn)
    text = turn.t(f"q.{q.id}")
    keeps = _keeps(quiz) and q.id in _store(quiz, q)
    if keeps:
        text += "\n" + turn.t("questions.current_answer", answer=answer_label(turn, q, _store(quiz, q)[q.id]))
    if q.kind == "single":
        options = [(f"a.{o}", turn.t(f"q.{q.id}.{o}")) for o in q.options]
    elif q.kind == "multi":
        options = [(f"t.{o}", (CHECKED if o in quiz["toggled"] else "") + turn.t(f"q.{q.id}.{o}")) for o in q.options]
        options.append(("done", turn.t("questions.done")))
    else:
        text += "\n" + turn.t("questions.type_number")
        options = []
    options.append(("skip", turn.t("questions.skip_keep" if keeps else "questions.skip")))
    if quiz.get("offer_skip_all"):
        options.append(("skip_all", turn.t("questions.skip_all")))
    turn.ask_text(text, options, edit=edit, typed=q.kind == "number")


async def answer_choice(turn: Turn) -> None:
    quiz = turn.data["quiz"]
    q = current_question(turn)
    kind, _, value = turn.action.partition(".")
    if turn.action == "skip":
        await _record(turn, q, None, skipped=True)
    elif turn.action == "skip_all" and quiz.get("offer_skip_all"):
        while quiz["queue"]:  # every answer left unknown (None), so none is asked again
            await _record(turn, current_question(turn), None, skipped=True)
    elif kind == "a" and q.kind == "single" and value in q.options:
        await _record(turn, q, value)
    elif kind == "t" and q.kind == "multi" and value in q.options:
        toggled = quiz["toggled"]
        toggled.remove(value) if value in toggled else toggled.append(value)
        return await ask_question(turn, edit=True)
    elif turn.action == "done" and q.kind == "multi":
        await _record(turn, q, [o for o in q.options if o in quiz["toggled"]])
    else:
        return await turn.reprompt()
    await next_question(turn)


async def answer_text(turn: Turn) -> None:
    q = current_question(turn)
    if q.kind != "number":
        return await turn.unexpected()
    value = parse_number(turn.event.payload, q)
    if value is None:
        turn.say("questions.bad_number", low=int(q.low), high=int(q.high))
        return await turn.reprompt()
    await _record(turn, q, int(value) if value == int(value) else value)
    await next_question(turn)


def question_expects(turn: Turn) -> str:
    return "expects.number" if current_question(turn).kind == "number" else "expects.button"


def _keeps(quiz: dict) -> bool:
    """Whether Skip keeps the answer on file ("Keep"): editing the profile, or updating a check-in's answers."""
    return quiz["purpose"] == "profile" or quiz.get("changes") is not None


def _store(quiz: dict, q: Question) -> dict[str, Any]:
    return quiz["known"] if q.part == "profile" else quiz["answers"]


def _on_file(quiz: dict, q: Question) -> Any:
    return _store(quiz, q).get(q.id) if _keeps(quiz) else None


async def _record(turn: Turn, q: Question, value: Any, skipped: bool = False) -> None:
    quiz = turn.data["quiz"]
    quiz["queue"].pop(0)
    quiz.pop("offer_skip_all", None)  # offered once: on the first question
    if q.part == "visit" and "asked" in quiz:
        quiz["asked"][q.id] = turn.now.date().isoformat()  # "Keep" too: the patient saw the question again
    store = _store(quiz, q)
    if skipped and _keeps(quiz) and q.id in store:
        return
    store[q.id] = value
    if q.part == "profile":
        await turn.db.profiles.save_profile(turn.user.id, dict(quiz["known"]))


async def _profile_answers(turn: Turn) -> dict[str, Any]:
    profile = await turn.db.profiles.load_profile(turn.user.id)
    return dict(profile.answers) if profile else {}


# An album's later photos may still arrive while the questions are asked: the check-in takes them.
STEPS: dict[str, Step] = {
    QUESTION: Step(ask_question, question_expects, on_choice=answer_choice, on_text=answer_text,
                   on_photo=goes_to(CHECKIN_PHOTO)),
    CHANGES: Step(ask_changes, "expects.button", on_choice=changes_chosen, on_photo=goes_to(CHECKIN_PHOTO)),
    CHECKIN_QUESTIONS: entry(start_checkin_questions),
    EDIT_PROFILE: entry(edit_profile),
}
