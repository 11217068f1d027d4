"""First contact and consent, the menu, help, language, /cancel."""
from __future__ import annotations

from conversations.flows.names import ANALYSING, CHECKIN_STEPS, LANGUAGE, MENU
from conversations.flows.result import still_analysing
from conversations.flows.turn import PRE_CONSENT, Turn
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
MENU_ITEMS = ("checkin", "history", "reminders", "data", "human", "help", "language")


async def show_menu(turn: Turn) -> None:
    turn.ask("menu.title", menu_options(turn))


def menu_options(turn: Turn) -> list[tuple[str, str]]:
    return [(item, turn.t(f"menu.{item}")) for item in MENU_ITEMS]


async def menu_choice(turn: Turn) -> None:
    from conversations.flows import MENU_ACTIONS

    handler = MENU_ACTIONS.get(turn.action)
    if handler is None:
        await turn.reprompt()
    else:
        await handler(turn)


# -- commands that work anywhere -------------------------------------------------------------------------------
async def start(turn: Turn) -> None:
    if turn.step in CHECKIN_STEPS:
        turn.say("start.resume")
        if turn.step == ANALYSING:
            await still_analysing(turn)  # restarts an analysis that a restart of the service cut off
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
    await turn.goto(back_to if back_to in turn.steps and back_to != LANGUAGE else MENU)


async def _set_locale(turn: Turn, locale: str) -> None:
    if locale in LOCALES:
        await turn.db.users.set_locale(turn.user.id, locale)
        turn.locale = locale
