"""The platform's command menu (Telegram set_my_commands), described in each locale."""
from __future__ import annotations

from conversations.flows import COMMAND_MENU
from conversations.i18n import t


def command_descriptions(locale: str) -> list[tuple[str, str]]:
    """(command, description) pairs for the platform's command menu, per locale."""
    return [(name, t(locale, f"command.{name}")) for name in COMMAND_MENU]
