"""The corpus as data: what a patient sends, and the catalogue text that must answer it.

A case is a row; the tests run every row through its channel and then check that the patient can still finish
a check-in. WECHAT_CASES is the extension point for the WeChat transport's rows."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.bad_input import images


@dataclass(frozen=True)
class ImageCase:
    """A file sent as a photo: `expect` is the catalogue key of the answer ("accepted" when it is usable)."""

    name: str
    make: Callable[[bytes], bytes]
    expect: str
    mime: str = "image/jpeg"
    file_name: str = "IMG_0001.jpg"


ACCEPTED = "accepted"
IMAGE_CASES = [
    ImageCase("truncated JPEG", images.truncated_jpeg, "intake.corrupt"),
    ImageCase("JPEG with its data overwritten", images.corrupt_jpeg, "intake.not_an_image"),
    ImageCase("JPEG header only", images.header_only_jpeg, "intake.corrupt"),
    ImageCase("PNG decompression bomb", images.png_bomb, "intake.too_many_pixels", "image/png", "bomb.png"),
    ImageCase("50 MB photo", images.fifty_megabytes, "intake.too_large"),
    ImageCase("1x1 image", images.one_pixel, "quality.too_small", "image/png", "dot.png"),
    ImageCase("CMYK JPEG", images.cmyk_jpeg, ACCEPTED),
    ImageCase("16-bit PNG", images.sixteen_bit_png, ACCEPTED, "image/png", "scan.png"),
    ImageCase("animated GIF", images.animated_gif, "intake.unsupported_format", "image/gif", "funny.gif"),
    ImageCase("animated WebP", images.animated_webp, "intake.animated", "image/webp", "moving.webp"),
    ImageCase("HEIC", images.heic, ACCEPTED, "image/heic", "IMG_0001.HEIC"),
    ImageCase("PDF renamed .jpg", images.pdf_renamed, "intake.not_an_image"),
    ImageCase("SVG", images.svg_renamed, "intake.not_an_image", "image/svg+xml", "drawing.svg"),
    ImageCase("BMP", images.bmp, "intake.unsupported_format", "image/bmp", "old.bmp"),
    ImageCase("TIFF", images.tiff, "intake.unsupported_format", "image/tiff", "scan.tiff"),
    ImageCase("ZIP renamed .jpg", images.zip_as_image, "intake.not_an_image"),
    ImageCase("noise, no face", images.noise, "quality.no_face"),
    ImageCase("a drawn animal, no face", images.drawn_shape, "quality.no_face"),
    ImageCase("screenshot of text", images.text_screenshot, "quality.no_face", "image/png", "Screenshot.png"),
    ImageCase("face upside down", images.upside_down, ACCEPTED),
    ImageCase("five faces", images.several_faces, "quality.several_faces"),
    ImageCase("black frame", images.black_frame, "quality.no_face"),
    ImageCase("heavy beauty filter", images.beauty_filter, "quality.too_blurry"),
    ImageCase("EXIF orientation out of range", images.bad_exif_orientation, ACCEPTED),
    ImageCase("fully transparent PNG", images.transparent_png, "quality.no_face", "image/png", "clear.png"),
    ImageCase("6000x8 strip", images.thin_strip, "quality.too_small"),
]


# WeChat's rows (XML with an external entity, billion laughs, a wrong AppId, ...) belong here, run against the
# WeChat endpoint by that transport's own test: ("name", request body, expected answer or refusal).
WECHAT_CASES: list = []


@dataclass(frozen=True)
class TelegramCase:
    """Something a Telegram patient does at the face-photo step (`where`: "photo"), at the age question
    ("question") or before ever writing to the bot ("new"); `expect` are catalogue keys of the answer (none:
    the bot must stay silent)."""

    name: str
    act: Callable[..., Awaitable[object]]  # act(patient, fake) -> sends the update(s)
    expect: tuple[str, ...] = ()
    where: str = "photo"
    postgres: bool = False  # text that PostgreSQL treats differently from SQLite: run there too
    values: dict = field(default_factory=dict)


EMOJI = "😀🙈🔥💯" * 5
LONG_TEXT = ("lorem ipsum " * 1000)[:10_000]


def _text(text: str) -> Callable[..., Awaitable[object]]:
    async def act(patient, fake):
        await patient.text(text)
    return act


def _update(make: Callable) -> Callable[..., Awaitable[object]]:
    async def act(patient, fake):
        await patient.deliver(make(patient, fake))
    return act


def _forged_press(data: str) -> Callable:
    """A callback query on the bot's latest message with buttons, carrying data no button had."""
    def make(patient, fake):
        message = next(m for m in reversed(fake.messages[patient.user.id].values()) if "reply_markup" in m)
        return fake._update({"callback_query": {"id": f"9{len(fake.calls)}{patient.user.id}",
                                                "from": patient.user.as_json(), "message": message,
                                                "chat_instance": "-1", "data": data}})
    return make


def _old_menu_press(patient, fake):
    """The first menu the patient ever got, pressed now: a button from an earlier conversation."""
    label = patient.t("menu.history")
    old = next(m for m in fake.messages[patient.user.id].values()
               if any(b["text"] == label for row in m.get("reply_markup", {}).get("inline_keyboard", []) for b in row))
    return fake.press_update(patient.user, label, message_id=old["message_id"])


def _inaccessible_press(patient, fake):
    """A press on a message Telegram no longer has (date 0): python-telegram-bot gives no message."""
    return fake._update({"callback_query": {
        "id": f"8{len(fake.calls)}", "from": patient.user.as_json(), "chat_instance": "-1", "data": "abcd:menu",
        "message": {"message_id": 1, "date": 0, "chat": patient.user.chat()}}})


def _group_message(patient, fake):
    group = {"id": -100123456, "type": "supergroup", "title": "Skin care club"}
    return fake._update({"message": {"message_id": 77, "from": patient.user.as_json(), "chat": group,
                                     "date": 0, "text": "hello bot"}})


def _channel_post(patient, fake):
    return fake._update({"message": {"message_id": 78, "chat": {"id": -100999, "type": "channel", "title": "News"},
                                     "date": 0, "sender_chat": {"id": -100999, "type": "channel"},
                                     "text": "announcement"}})


def _document(data: bytes, mime: str, name: str) -> Callable:
    async def act(patient, fake):
        await patient.document(data, mime_type=mime, file_name=name)
    return act


TELEGRAM_CASES = [
    TelegramCase("a PDF sent as a file", _document(images.pdf_renamed(b""), "application/pdf", "report.pdf"),
                 ("unexpected.other",)),
    TelegramCase("an empty text file", _document(b"", "text/plain", "empty.txt"), ("unexpected.other",)),
    TelegramCase("a sticker", lambda p, f: p.sticker(), ("unexpected.other",)),
    TelegramCase("a voice note", _update(lambda p, f: f.voice_update(p.user)), ("unexpected.other",)),
    TelegramCase("a location", _update(lambda p, f: f.location_update(p.user)), ("unexpected.other",)),
    TelegramCase("emoji-only text", _text(EMOJI), ("unexpected.text", "expects.photo")),
    TelegramCase("10,000 characters of text", _text(LONG_TEXT), ("unexpected.text",)),
    TelegramCase("10,000 characters as the age", _text(LONG_TEXT), ("q.age",), where="question"),
    TelegramCase("emoji as the age", _text(EMOJI), ("q.age",), where="question"),
    TelegramCase("a NUL byte in text", _text("hi\x00there"), ("unexpected.text",), postgres=True),
    TelegramCase("a lone surrogate in text", _text("caf\ud800e"), ("unexpected.text",), postgres=True),
    TelegramCase("right-to-left and zero-width marks", _text("\u202e\u200b\u200d\ufeff"), ("unexpected.text",),
                 postgres=True),
    TelegramCase("an unknown command", _update(lambda p, f: f.command_update(p.user, "/sudo")), ("command.unknown",)),
    TelegramCase("a command with 10,000 characters of arguments",
                 _update(lambda p, f: f.command_update(p.user, "/help " + "x" * 10_000)), ("help",)),
    TelegramCase("a callback query with forged data", _update(_forged_press("ffff:face")), ("stale_button",)),
    TelegramCase("a callback query with path-like data", _update(_forged_press("../../etc/passwd")),
                 ("stale_button",)),
    TelegramCase("a callback query with 64 bytes of data", _update(_forged_press("é" * 32)), ("stale_button",)),
    TelegramCase("a stale button from an old conversation", _update(_old_menu_press), ("stale_button",)),
    TelegramCase("a press on a message Telegram no longer has", _update(_inaccessible_press), ("stale_button",)),
    TelegramCase("an update from a group chat", _update(_group_message)),
    TelegramCase("a channel post (no user)", _update(_channel_post)),
    TelegramCase("a photo from someone who never wrote before", lambda p, f: p.photo(images.noise(b"")),
                 ("consent.intro", "consent.photo_first"), where="new"),  # the welcome, then what to do
]
