"""What a step function sees and changes in one turn: the patient, the event, the flow's data, the replies."""
from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conversations.i18n import resolve_locale, t
from conversations.messages import Choices, InboundEvent, Outgoing, Text
from storage import Database, User

Handler = Callable[["Turn"], Awaitable[None]]
Enter = Callable[..., Awaitable[None]]  # a step's enter hook: (turn, **what turn.goto was given for it)
# An "other" event's payload may say why it could not be used (a transport sets it): the text that explains it.
OTHER_REASONS = {"too_large": "unexpected.other.too_large"}
PRE_CONSENT = "c"  # choice data prefix of the consent prompt, which has no stored state (and so no nonce)


@dataclass(frozen=True)
class Step:
    """One step of the dialog, reached by its name (names.py) with `await turn.goto(name)`.

    A state: how to (re)ask for what it waits for, and what answers it takes; the patient's step is always one.
    enter: what turn.goto runs on entering it, instead of the prompt (in the style of aiogram's scenes' on_enter).
    An entry (made by `entry`) has no prompt: a named way into a flow from another, never the patient's step."""

    prompt: Handler | None
    expects: str | Callable[["Turn"], str]  # i18n key of what the step waits for, said when something else comes
    on_choice: Handler | None = None
    on_text: Handler | None = None
    on_photo: Handler | None = None
    enter: Enter | None = None

    @property
    def is_state(self) -> bool:
        return self.prompt is not None


def entry(enter: Enter) -> Step:
    """A step that is only a way in: turn.goto(its name) runs `enter`, which moves on to a state by name (or
    leaves the patient where they are)."""
    return Step(None, "", enter=enter)


def goes_to(name: str) -> Handler:
    """A handler that goes to the named step: a step taking an event that another flow handles."""
    async def handler(turn: Turn) -> None:
        await turn.goto(name)

    return handler


@dataclass(frozen=True)
class Work:
    """Slow work (the pipeline) that the engine runs between two short transactions: job(args) in the
    pool, then the continuation `then(turn, args, result)` in a fresh transaction with the state reloaded."""

    job: str
    args: dict[str, Any]
    then: str


@dataclass
class Turn:
    db: Database
    user: User
    event: InboundEvent | None
    step: str | None
    data: dict[str, Any]
    steps: Mapping[str, Step]
    now: datetime
    locale: str = ""
    consented: bool = False
    action: str = ""  # the pressed button's action, nonce removed
    out: list[Outgoing] = field(default_factory=list)
    work: Work | None = None
    erased: bool = False  # the patient's data was deleted in this turn: nothing more may be stored
    photo_id: int | None = None  # the stored photo this turn's inbound message refers to
    photo_retention_days: int = 180  # said in the consent text; bot/ deletes older photos
    allowed: Callable[["Turn", str], Awaitable[bool]] | None = None  # the engine's rate limits: allowed(turn, kind)
    first_contact: bool = False  # this event is the first the patient ever sent (nothing was said to them yet)

    def __post_init__(self) -> None:
        self.locale = self.locale or resolve_locale(self.user.locale)
        self.consented = self.user.consent == "accepted"

    # -- texts -----------------------------------------------------------------------------------------------
    def t(self, key: str, **values: object) -> str:
        return t(self.locale, key, **values)

    def say(self, key: str, **values: object) -> None:
        self.out.append(Text(self.t(key, **values)))

    def send(self, *messages: Outgoing) -> None:
        self.out.extend(messages)

    # -- prompts ---------------------------------------------------------------------------------------------
    def ask(self, key: str, options: Sequence[tuple[str, str]], *, edit: bool = False, **values: object) -> None:
        """A prompt with buttons; options are (action, label). Each prompt gets a fresh nonce, so a button
        of an earlier prompt is recognised as stale."""
        self.ask_text(self.t(key, **values), options, edit=edit)

    def ask_text(self, text: str, options: Sequence[tuple[str, str]], *, edit: bool = False,
                 fixed: Sequence[tuple[str, str]] = (), typed: bool = False) -> None:
        """fixed: (data, label) buttons added as they are, without the nonce (a reminder's, valid from anywhere);
        typed: the prompt also takes a typed number (messages.Choices)."""
        nonce = self._new_nonce()
        self.out.append(Choices(text, tuple((f"{nonce}:{a}", label) for a, label in options) + tuple(fixed), edit,
                                typed))

    def expect(self, key: str, **values: object) -> None:
        """A prompt without buttons (a photo, a number); earlier buttons become stale all the same."""
        self._new_nonce()
        self.say(key, **values)

    def _new_nonce(self) -> str:
        if not self.consented:
            return PRE_CONSENT
        nonce = secrets.token_hex(2)
        self.data["nonce"] = nonce
        return nonce

    async def goto(self, name: str, **values: Any) -> None:
        """Move to the named step. A state becomes the patient's step, then its enter hook runs or, without one,
        its prompt asks what it waits for; an entry's enter hook runs with the patient's step left as it is.
        values: for the hook or the prompt (the menu's preface under a result, say)."""
        step = self.steps[name]
        if step.is_state:
            self.step = name
        await (step.enter or step.prompt)(self, **values)

    async def reprompt(self) -> None:
        await self.steps[self.step].prompt(self)

    async def unexpected(self) -> None:
        """Something the current step cannot take (a sticker, text instead of a photo, ...): say so, say what
        is expected, and ask again."""
        expects = self.steps[self.step].expects
        kind = self.event.kind
        self.say(OTHER_REASONS.get(self.event.payload, "unexpected.other") if kind == "other" else f"unexpected.{kind}")
        self.say(expects if isinstance(expects, str) else expects(self))
        await self.reprompt()

    # -- flow data ---------------------------------------------------------------------------------------------
    def clear(self, *keys: str) -> None:
        for key in keys:
            self.data.pop(key, None)
