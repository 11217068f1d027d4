"""The questionnaire, one question per prompt: profile questions not yet answered, then the visit questions.

State: quiz = {purpose: checkin|profile, queue: [question ids], known: profile answers, answers: this quiz's
answers, toggled: the current multiple-choice selection}. Profile answers are saved to the profile as they are
given, so a check-in abandoned half-way does not ask them again.
"""
from __future__ import annotations

from typing import Any

from conversations.flows.names import MY_DATA, QUESTION
from conversations.flows.turn import Turn
from conversations.questionnaire import PROFILE_QUESTIONS, QUESTIONS, VISIT_QUESTIONS, Question, parse_number

CHECKED = "✓ "


async def start_checkin_questions(turn: Turn) -> None:
    known = await _profile_answers(turn)
    queue = [q.id for q in PROFILE_QUESTIONS if q.id not in known] + [q.id for q in VISIT_QUESTIONS]
    turn.data["quiz"] = {"purpose": "checkin", "queue": queue, "known": known, "answers": {}, "toggled": []}
    turn.say("questions.intro")
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
        return await turn.goto(QUESTION)
    if quiz["purpose"] == "checkin":
        from conversations.flows.result import start_analysis

        return await start_analysis(turn)
    turn.clear("quiz")
    turn.say("data.profile_saved")
    await turn.goto(MY_DATA)


def current_question(turn: Turn) -> Question:
    return QUESTIONS[turn.data["quiz"]["queue"][0]]


async def ask_question(turn: Turn, *, edit: bool = False) -> None:
    quiz = turn.data["quiz"]
    q = current_question(turn)
    text = turn.t(f"q.{q.id}")
    if quiz["purpose"] == "profile" and q.id in quiz["known"]:
        text += "\n" + turn.t("questions.current_answer", answer=answer_label(turn, q, quiz["known"][q.id]))
    if q.kind == "single":
        options = [(f"a.{o}", turn.t(f"q.{q.id}.{o}")) for o in q.options]
    elif q.kind == "multi":
        options = [(f"t.{o}", (CHECKED if o in quiz["toggled"] else "") + turn.t(f"q.{q.id}.{o}")) for o in q.options]
        options.append(("done", turn.t("questions.done")))
    else:
        text += "\n" + turn.t("questions.type_number")
        options = []
    options.append(("skip", turn.t("questions.skip_keep" if quiz["purpose"] == "profile" else "questions.skip")))
    turn.ask_text(text, options, edit=edit)


async def answer_choice(turn: Turn) -> None:
    quiz = turn.data["quiz"]
    q = current_question(turn)
    kind, _, value = turn.action.partition(".")
    if turn.action == "skip":
        await _record(turn, q, None, skipped=True)
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


def answer_label(turn: Turn, q: Question, value: Any) -> str:
    if value is None:
        return turn.t("data.not_answered")
    if q.kind == "number":
        return f"{value:g}" if isinstance(value, float) else str(value)
    if q.kind == "single":
        return turn.t(f"q.{q.id}.{value}")
    return ", ".join(turn.t(f"q.{q.id}.{v}") for v in value) or turn.t("data.none")


async def _record(turn: Turn, q: Question, value: Any, skipped: bool = False) -> None:
    quiz = turn.data["quiz"]
    quiz["queue"].pop(0)
    if q.part == "profile":
        if skipped and quiz["purpose"] == "profile" and q.id in quiz["known"]:
            return  # editing: skip keeps the earlier answer
        quiz["known"][q.id] = value
        await turn.db.profiles.save_profile(turn.user.id, dict(quiz["known"]))
    else:
        quiz["answers"][q.id] = value


async def _profile_answers(turn: Turn) -> dict[str, Any]:
    profile = await turn.db.profiles.load_profile(turn.user.id)
    return dict(profile.answers) if profile else {}
