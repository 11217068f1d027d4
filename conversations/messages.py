"""What travels between a transport adapter and the engine: one InboundEvent in, Outgoing messages out.

Outgoing types are registered by type name (as wechatpy registers its replies), so an adapter renders by table
lookup instead of an if-chain:

    RENDERERS = {"text": send_text, "choices": send_keyboard, "image": send_photo, "file": send_document,
                 "typing": send_action}
    for message in await engine.handle(event):
        await RENDERERS[message.type](chat, message)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

InboundKind = Literal["command", "text", "choice", "photo", "other"]
INBOUND_KINDS: tuple[str, ...] = ("command", "text", "choice", "photo", "other")
MAX_CHOICE_DATA_BYTES = 64  # Telegram's callback_data limit
# The catalogue text a channel without buttons adds under a Choices it renders as numbered options ("1. …").
NUMBERED_OPTIONS_HINT = "numbered.reply_with_number"
# Under a Choices that also takes a typed number (Choices.typed): reply with an option's label instead.
LABELLED_OPTIONS_HINT = "numbered.reply_with_label"


@dataclass(frozen=True)
class InboundEvent:
    """One platform update, already reduced to what the dialog needs.

    payload: the command name (with or without "/", arguments ignored), the text, or a Choices option's data.
    kind "other": stickers, voice notes, locations, files that are not photos; the engine answers helpfully.
    """

    channel: str  # "telegram", "wechat", "webchat", ...
    user_id: str  # the platform's user id
    message_id: str  # the platform's message/update id: a redelivery with the same id is handled once
    kind: InboundKind
    payload: str = ""
    photo: bytes | None = field(default=None, repr=False)
    photo_as_document: bool = False  # sent uncompressed, as a file
    media_group: str | None = None  # several photos sent together (an album) share it
    locale_hint: str | None = None  # the client's language, e.g. "zh-CN"

    def __post_init__(self) -> None:
        if self.kind not in INBOUND_KINDS:
            raise ValueError(f"kind must be one of {INBOUND_KINDS}, not {self.kind!r}")
        if self.kind == "photo" and not self.photo:
            raise ValueError("a photo event carries the photo's bytes")
        object.__setattr__(self, "payload", storable_text(self.payload))


def storable_text(text: str) -> str:
    """Text every database can hold: NUL bytes (PostgreSQL refuses them in text) dropped, lone surrogates (valid
    in JSON escapes, not encodable as UTF-8) replaced."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


OUTGOING_TYPES: dict[str, type[Outgoing]] = {}


def register(type_name: str):
    def decorate(cls: type[Outgoing]) -> type[Outgoing]:
        cls.type = type_name
        OUTGOING_TYPES[type_name] = cls
        return cls
    return decorate


class Outgoing:
    type: ClassVar[str]


@register("text")
@dataclass(frozen=True)
class Text(Outgoing):
    text: str


@register("choices")
@dataclass(frozen=True)
class Choices(Outgoing):
    """A prompt with buttons. `options` are (data, label) pairs; data is opaque: send it back as a choice event.

    edit: the prompt replaces the one whose button was just pressed (a toggled multiple-choice question);
    an adapter that can edit a message in place may do so, any other sends it as a new message.
    typed: the prompt also takes a typed number (an age): a channel without buttons must not read a number the
    patient types as the number of an option.
    """

    text: str
    options: tuple[tuple[str, str], ...]
    edit: bool = False
    typed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple((str(d), str(l)) for d, l in self.options))
        for data, _ in self.options:
            if not data or len(data.encode()) > MAX_CHOICE_DATA_BYTES:
                raise ValueError(f"choice data must be 1-{MAX_CHOICE_DATA_BYTES} bytes: {data!r}")


@register("image")
@dataclass(frozen=True)
class Image(Outgoing):
    data: bytes = field(repr=False)
    caption: str = ""
    filename: str = "image.jpg"  # .jpg or .png; says the format

    @property
    def mime_type(self) -> str:
        return "image/png" if self.filename.lower().endswith(".png") else "image/jpeg"


@register("file")
@dataclass(frozen=True)
class File(Outgoing):
    """A document for the patient to keep (the data export): sent as a file, never stored by the adapter."""

    name: str  # the file name the patient sees; its extension says the type
    data: bytes = field(repr=False)
    caption: str = ""

    @property
    def mime_type(self) -> str:
        return {"zip": "application/zip", "csv": "text/csv", "html": "text/html"}.get(
            self.name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


@register("typing")
@dataclass(frozen=True)
class Typing(Outgoing):
    """"Working on it": a chat action where the platform has one (Telegram's typing/upload_photo)."""
