"""A scripted patient for the engine tests: sends InboundEvents, remembers the replies, taps buttons by action."""
from __future__ import annotations

import itertools

from conversations import Choices, Engine, Image, InboundEvent, Outgoing, Text

_message_ids = itertools.count(1)


class Patient:
    def __init__(self, engine: Engine, user_id: str = "patient", *, channel: str = "test",
                 locale: str | None = "en"):
        self.engine, self.user_id, self.channel, self.locale = engine, user_id, channel, locale
        self.replies: list[Outgoing] = []
        self.progress: list[Outgoing] = []

    def event(self, kind: str, payload: str = "", **fields) -> InboundEvent:
        return InboundEvent(self.channel, self.user_id, fields.pop("message_id", None) or str(next(_message_ids)),
                            kind, payload, locale_hint=self.locale, **fields)

    async def send(self, event: InboundEvent) -> list[Outgoing]:
        self.progress = []

        async def on_progress(messages: list[Outgoing]) -> None:
            self.progress.extend(messages)

        self.replies = await self.engine.handle(event, on_progress)
        return self.replies

    async def command(self, name: str) -> list[Outgoing]:
        return await self.send(self.event("command", f"/{name}"))

    async def text(self, text: str) -> list[Outgoing]:
        return await self.send(self.event("text", text))

    async def photo(self, data: bytes, **fields) -> list[Outgoing]:
        return await self.send(self.event("photo", photo=data, **fields))

    async def other(self) -> list[Outgoing]:
        return await self.send(self.event("other"))

    @property
    def choices(self) -> Choices:
        found = [m for m in self.progress + self.replies if isinstance(m, Choices)]
        assert found, f"no buttons in {self.texts}"
        return found[-1]

    def data_for(self, action: str) -> str:
        """The data of the last prompt's button whose action (the part after the nonce) is `action`."""
        for data, _ in self.choices.options:
            if data.split(":", 1)[1] == action:
                return data
        raise AssertionError(f"no {action!r} button in {self.choices.options}")

    async def tap(self, action: str) -> list[Outgoing]:
        return await self.send(self.event("choice", self.data_for(action)))

    async def skip_questions(self) -> list[Outgoing]:
        """Skips every question until a reply without a question arrives (the result, after the last one); a
        returning patient's "Anything new?" is answered "Nothing changed", a warning that the photo is posed
        unlike last time's "Go on"."""
        while action := self._asking():
            await self.tap(action)
        return self.replies

    def _asking(self) -> str | None:
        for m in self.replies[-1:]:
            if isinstance(m, Choices) and not any(d.endswith(":checkin") for d, _ in m.options):
                return next((a for a in ("skip", "same", "go_on") for d, _ in m.options if d.endswith(f":{a}")), None)
        return None

    @property
    def texts(self) -> str:
        """What the patient reads: texts, prompts and the pictures' captions."""
        return "\n".join(m.caption if isinstance(m, Image) else m.text for m in self.progress + self.replies
                         if isinstance(m, (Text, Choices, Image)))

    @property
    def images(self) -> list[Image]:
        return [m for m in self.progress + self.replies if isinstance(m, Image)]
