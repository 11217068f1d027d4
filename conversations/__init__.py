"""The transport-agnostic dialog: InboundEvent in, Outgoing messages out, the patient's state in the database.

    engine = Engine(await Database.open(), WorkerPool())
    for message in await engine.handle(InboundEvent("webchat", "u1", "m1", "command", "/start")):
        ...  # render by message.type: "text", "choices", "image", "file", "typing"

The names below are looked up when first used (PEP 562), so importing one small module of this package (the
export's ZIP builder in a worker process, say) does not load the engine and the flows with it.
"""
from __future__ import annotations

import importlib

_HOMES = {
    "Engine": "conversations.engine",
    "COMMAND_MENU": "conversations.flows",
    "LOCALES": "conversations.i18n", "resolve_locale": "conversations.i18n", "t": "conversations.i18n",
    "command_descriptions": "conversations.menu",
    **{name: "conversations.messages" for name in ("OUTGOING_TYPES", "Choices", "File", "Image", "InboundEvent",
                                                   "Outgoing", "Text", "Typing")},
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'conversations' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
