"""The patient's journey, as named steps and one small async function per thing the bot answers.

/start -> what the bot does and does not do, what is stored and for how long -> Accept / Decline (nothing is
stored but that answer until Accept) -> MENU: New check-in, My history, Reminders, My data, Help, Language.
New check-in -> CHECKIN_MODE: full face (FACE_PHOTO) or by region (REGION_PHOTO: forehead, nose, cheeks, chin,
each skippable) -> each photo checked at once, retake with the reason when unusable (a full-face photo posed
unlike the last full-face check-in's: POSE_CHECK, retake or go on) -> QUESTION: profile questions not yet
answered, then the visit questions, each skippable; a returning patient gets CHANGES instead ("Anything new
since <date>?": Nothing changed keeps the last answers, Update asks the visit questions again) -> ANALYSING ->
result (the annotated photo captioned with grade, score, change since last time, doctor notice and counts; then
the advice with the menu) -> MENU. My history -> HISTORY (list + trend
chart) -> COMPARE_FIRST -> COMPARE_SECOND -> side by side. My data -> MY_DATA (edit answers,
export) -> CONFIRM_DELETE. Talk to a person (/human) -> HANDOVER until "Back to the bot" (/bot) or staff close it.
Reminders -> REMINDERS (cadence) -> REMINDER_TIME -> REMINDER_ZONE (once); a pushed reminder's buttons work
from any step.
/cancel from anywhere -> MENU. Anything unexpected: say so, say what is expected, ask again.
"""
from __future__ import annotations

from conversations.flows import checkin, handover, history, mydata, questions, reminders, result, start
from conversations.flows.names import (ANALYSING, ANALYSIS_FAILED, CHANGES, CHECKIN_MODE, COMPARE_FIRST,
                                       COMPARE_SECOND, CONFIRM_DELETE, FACE_PHOTO, HANDOVER, HISTORY, LANGUAGE, MENU,
                                       MY_DATA, POSE_CHECK, QUESTION, REGION_PHOTO, REMINDER_TIME, REMINDER_ZONE,
                                       REMINDERS)
from conversations.flows.turn import Handler, Step, Turn, Work

STEPS: dict[str, Step] = {
    MENU: Step(start.show_menu, "expects.button", on_choice=start.menu_choice),
    LANGUAGE: Step(start.ask_language, "expects.button", on_choice=start.language_chosen),
    CHECKIN_MODE: Step(checkin.ask_mode, "expects.button", on_choice=checkin.mode_chosen),
    FACE_PHOTO: Step(checkin.ask_face_photo, checkin.photo_expects, on_photo=checkin.photo_received),
    REGION_PHOTO: Step(checkin.ask_region_photo, checkin.photo_expects, on_choice=checkin.skip_region,
                       on_photo=checkin.photo_received),
    QUESTION: Step(questions.ask_question, questions.question_expects, on_choice=questions.answer_choice,
                   on_text=questions.answer_text, on_photo=checkin.photo_received),
    POSE_CHECK: Step(checkin.ask_pose_check, "expects.button", on_choice=checkin.pose_chosen,
                     on_photo=checkin.photo_received),
    CHANGES: Step(questions.ask_changes, "expects.button", on_choice=questions.changes_chosen,
                  on_photo=checkin.photo_received),
    ANALYSING: Step(result.ask_to_wait, "expects.wait", on_choice=result.still_analysing,
                    on_text=result.still_analysing, on_photo=result.still_analysing),
    ANALYSIS_FAILED: Step(result.ask_retry, "expects.button", on_choice=result.retry_chosen),
    HISTORY: Step(history.ask_history_next, "expects.button", on_choice=history.history_choice),
    COMPARE_FIRST: Step(history.ask_first, "expects.button", on_choice=history.first_picked),
    COMPARE_SECOND: Step(history.ask_second, "expects.button", on_choice=history.second_picked),
    MY_DATA: Step(mydata.show_my_data, "expects.button", on_choice=mydata.my_data_choice),
    CONFIRM_DELETE: Step(mydata.ask_delete, "expects.button", on_choice=mydata.delete_chosen),
    REMINDERS: Step(reminders.ask_reminders, "expects.button", on_choice=reminders.reminder_chosen),
    HANDOVER: Step(handover.ask_handover, "expects.person", on_choice=handover.handover_choice,
                   on_text=handover.patient_message, on_photo=handover.patient_message),
    REMINDER_TIME: Step(reminders.ask_time, "expects.time", on_choice=reminders.time_chosen,
                        on_text=reminders.time_typed),
    REMINDER_ZONE: Step(reminders.ask_zone, "expects.zone", on_choice=reminders.zone_chosen,
                        on_text=reminders.zone_typed),
}

MENU_ACTIONS: dict[str, Handler] = {
    "checkin": checkin.new_checkin,
    "history": history.show_history,
    "reminders": reminders.reminders,
    "data": mydata.my_data,
    "help": start.help_,
    "language": start.choose_language,
    "human": handover.talk_to_person,
}

COMMANDS: dict[str, Handler] = {
    "start": start.start,
    "help": start.help_,
    "cancel": start.cancel,
    "language": start.choose_language,
    "checkin": checkin.new_checkin,
    "history": history.show_history,
    "remind": reminders.reminders,
    "data": mydata.my_data,
    "delete": mydata.confirm_delete,
    "export": mydata.export,
    "human": handover.talk_to_person,
    "bot": handover.back_to_bot,
}
# Shown in the platform's command menu (Telegram set_my_commands), described by `command.<name>` texts.
COMMAND_MENU: tuple[str, ...] = ("checkin", "history", "remind", "data", "export", "delete", "human", "language",
                                 "help", "cancel")

CONTINUATIONS = {
    "photo_checked": checkin.photo_checked,
    "assessed": result.assessed,
    "picture_ready": history.picture_ready,
    "export_ready": mydata.export_ready,
}


def command_name(payload: str) -> str:
    """"/CheckIn@acnebot now" -> "checkin"."""
    words = payload.strip().split()
    return words[0].lstrip("/").split("@")[0].lower() if words else ""


async def run(turn: Turn) -> None:
    """Answers the turn's event from the current step (or the consent prompt, before consent)."""
    event = turn.event
    name = command_name(event.payload) if event.kind == "command" else ""
    if not turn.consented:
        if name == "help":
            return await start.help_(turn)
        if name == "language":
            return await start.ask_language(turn)
        return await start.before_consent(turn)
    if turn.step not in STEPS:
        turn.step = MENU
    if turn.step == HANDOVER and event.kind != "choice":  # for the person, not the flows (but /bot, /cancel)
        ends = name in handover.COMMANDS_THAT_END_IT
        return await (handover.back_to_bot if ends else handover.patient_message)(turn)
    if event.kind == "command":
        return await COMMANDS.get(name, start.unknown_command)(turn)
    step = STEPS[turn.step]
    if event.kind == "choice" and event.payload.startswith(f"{reminders.REMINDER_PREFIX}:"):
        return await reminders.reminder_button(turn)
    if event.kind == "choice":
        nonce, sep, action = event.payload.partition(":")
        if not sep or nonce != turn.data.get("nonce"):
            turn.say("stale_button")
            return await turn.reprompt()
        turn.action = action
        handler = step.on_choice
    else:
        handler = {"text": step.on_text, "photo": step.on_photo}.get(event.kind)
    if handler is None:
        return await turn.unexpected()
    await handler(turn)


async def interrupted(turn: Turn, work: Work) -> None:
    """Work cut short by a restart that cannot run again (a photo check: unchecked photos are not kept)."""
    if turn.step not in STEPS:
        turn.step = MENU
    if work.job == "check_photo":
        return await checkin.photo_interrupted(turn, work.args)
    turn.say("interrupted.resend")
    await turn.reprompt()


async def resume(turn: Turn, work: Work, outcome: object) -> None:
    """The second half of a turn whose step asked for slow work: its continuation, with the state reloaded."""
    if turn.step not in STEPS:
        turn.step = MENU
    await CONTINUATIONS[work.then](turn, work.args, outcome)
