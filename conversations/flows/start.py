"""First contact and consent, the menu, help, language, /cancel."""
from __future__ import annotations

from collections.abc import Sequence

from conversations.flows.names import (ANALYSING, CHECKIN_STEPS, CHOOSE_LANGUAGE, HELP, LANGUAGE, MENU, MY_DATA,
                                       NEW_CHECKIN, OPEN_REMINDERS, SHOW_HISTORY, START, STILL_ANALYSING,
                                       TALK_TO_PERSON)
from conversations.flows.turn import PRE_CONSENT, Handler, Step, Turn, entry
from conversations.i18n import LOCALE_NAMES, LOCALES


# -- consent: nothing is stored beyond the answer until the patient accepts ----------------------------------
async def ask_consent(turn: Turn) -> None:
    turn.say("consent.intro", photo_days=turn.photo_retention_days)
    _ask_consent_question(turn, "consent.question")


def _ask_consent_question(turn: Turn, question: str) -> None:
    other = next(l for l in LOCALES if l != turn.locale)
    turn.ask(question, [("yes", turn.t("consent.accept")), ("no", turn.t("consent.decline")),
                        (f"lang.{other}", LOCALE_NAMES[other])])


async def before_consent(turn: Turn) -> None:
    """Every event from a patient who has not accepted (yet) ends here, whatever it is."""
    event = turn.event
    prefix = f"{PRE_CONSENT}:"
    action = event.payload.removeprefix(prefix) if event.kind == "choice" and event.payload.startswith(prefix) else ""
    if action == "yes":
        await turn.db.users.set_consent(turn.user.id, "accepted")
        turn.consented = True
        turn.say("consent.accepted")
        await turn.goto(MENU)
    elif action == "no":
        await turn.db.users.set_consent(turn.user.id, "declined")
        turn.say("consent.declined")
    elif action.startswith("lang."):
        await _set_locale(turn, action[5:])
        await ask_consent(turn)
    elif event.kind == "photo":  # not kept: one line says what to do (the welcome only if never shown)
        if turn.first_contact:
            turn.say("consent.intro", photo_days=turn.photo_retention_days)
        _ask_consent_question(turn, "consent.photo_first")
    else:
        await ask_consent(turn)


# -- menu ------------------------------------------------------------------------------------------------------
# The menu's buttons, in order (`menu.<action>` texts), and the step each goes to.
MENU_ACTIONS = {"checkin": NEW_CHECKIN, "history": SHOW_HISTORY, "reminders": OPEN_REMINDERS, "data": MY_DATA,
                "human": TALK_TO_PERSON, "help": HELP, "language": CHOOSE_LANGUAGE}
MENU_ITEMS = tuple(MENU_ACTIONS)


async def show_menu(turn: Turn, *, preface: Sequence[str] = (), fixed: Sequence[tuple[str, str]] = ()) -> None:
    """preface: texts above the menu's title (a result's advice, the reminders offer); fixed: buttons without the
    nonce (the offer's), after the menu's."""
    turn.ask_text("\n\n".join([*preface, turn.t("menu.title")]), menu_options(turn), fixed=fixed)


def menu_options(turn: Turn) -> list[tuple[str, str]]:
    return [(item, turn.t(f"menu.{item}")) for item in MENU_ITEMS]


async def menu_choice(turn: Turn) -> None:
    step = MENU_ACTIONS.get(turn.action)
    if step is None:
        await turn.reprompt()
    else:
        await turn.goto(step)


# -- commands that work anywhere -------------------------------------------------------------------------------
async def start(turn: Turn) -> None:
    if turn.step in CHECKIN_STEPS:
        turn.say("start.resume")
        if turn.step == ANALYSING:
            await turn.goto(STILL_ANALYSING)  # restarts an analysis that a restart of the service cut off
        else:
            await turn.reprompt()
    else:
        turn.say("start.welcome_back")
        await turn.goto(MENU)


async def help_(turn: Turn) -> None:
    turn.say("help")
    if turn.consented:
        await turn.reprompt()
    else:
        await ask_consent(turn)


async def cancel(turn: Turn) -> None:
    in_progress = any(key in turn.data for key in ("checkin", "quiz", "compare"))
    turn.clear("checkin", "quiz", "analysis", "compare", "back_to")
    turn.say("cancel.done" if in_progress else "cancel.nothing")
    await turn.goto(MENU)


async def unknown_command(turn: Turn) -> None:
    turn.say("command.unknown")
    await turn.reprompt()


async def choose_language(turn: Turn) -> None:
    if turn.step != LANGUAGE:
        turn.data["back_to"] = turn.step
    await turn.goto(LANGUAGE)


async def ask_language(turn: Turn) -> None:
    turn.ask("language.choose", [(f"lang.{l}", LOCALE_NAMES[l]) for l in LOCALES])


async def language_chosen(turn: Turn) -> None:
    if not turn.action.startswith("lang."):
        return await turn.reprompt()
    await _set_locale(turn, turn.action[5:])
    turn.say("language.set")
    back_to = turn.data.pop("back_to", None)
    back = turn.steps.get(back_to)
    await turn.goto(back_to if back is not None and back.is_state and back_to != LANGUAGE else MENU)


async def _set_locale(turn: Turn, locale: str) -> None:
    if locale in LOCALES:
        await turn.db.users.set_locale(turn.user.id, locale)
        turn.locale = locale


STEPS: dict[str, Step] = {
    MENU: Step(show_menu, "expects.button", on_choice=menu_choice),
    LANGUAGE: Step(ask_language, "expects.button", on_choice=language_chosen),
    START: entry(start),
    HELP: entry(help_),
    CHOOSE_LANGUAGE: entry(choose_language),
}
COMMANDS: dict[str, Handler] = {"start": start, "help": help_, "cancel": cancel, "language": choose_language}
