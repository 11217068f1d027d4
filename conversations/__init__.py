"""The transport-agnostic dialog: InboundEvent in, Outgoing messages out, the patient's state in the database.

    engine = Engine(await Database.open(), Assessor())
    for message in await engine.handle(InboundEvent("webchat", "u1", "m1", "command", "/start")):
        ...  # render by message.type: "text", "choices", "image", "file", "typing"
"""
from conversations.assessor import Assessor
from conversations.engine import Engine
from conversations.flows import COMMAND_MENU
from conversations.i18n import LOCALES, resolve_locale, t
from conversations.messages import OUTGOING_TYPES, Choices, File, Image, InboundEvent, Outgoing, Text, Typing


def command_descriptions(locale: str) -> list[tuple[str, str]]:
    """(command, description) pairs for the platform's command menu (Telegram set_my_commands), per locale."""
    return [(name, t(locale, f"command.{name}")) for name in COMMAND_MENU]


__all__ = ["Assessor", "Choices", "COMMAND_MENU", "Engine", "File", "Image", "InboundEvent", "LOCALES",
           "OUTGOING_TYPES", "Outgoing", "Text", "Typing", "command_descriptions", "resolve_locale"]
