"""The local web chat: the whole patient journey in a browser, on the same engine as the messengers.

    app = web.Application()
    bot.webchat.setup(app, engine)      # the page at /, its API under /api/ (see routes.py)

A small static page (HTML, CSS and a little vanilla JavaScript in static/, nothing loaded from elsewhere) shows
the bot's messages as bubbles, Choices as buttons (a toggled multiple-choice prompt is updated in place), and
the bot's pictures; the patient types text or /commands and sends photos. Each browser is an anonymous patient
identified by an HttpOnly cookie; its pictures are served to it alone. Messages pushed outside a reply (the result
of slow work, a staff member's answer) wait in an Outbox the page polls; setup() adds its Courier to the couriers
it is given, which the service's engine pushes finished work through.
"""
from __future__ import annotations

from aiohttp import web

from bot.lanes import Lanes
from bot.webchat.push import CHANNEL, Outbox, WebChatCourier
from bot.webchat.routes import (ASSET_FILES, CONFIG, ENGINE, IMAGES, LANES, PUSHED, Assets, WebChatConfig, routes,
                                security_headers)
from bot.webchat.store import ImageStore
from conversations.engine import Engine


def setup(app: web.Application, engine: Engine, *, config: WebChatConfig | None = None,
          images: ImageStore | None = None, couriers: dict | None = None) -> None:
    """Mounts the web chat on `app` (at `/`), answering through `engine`; with the service's `couriers` (channel
    -> courier), the web chat's own joins them, so staff replies and finished work reach its sessions."""
    config = config or WebChatConfig()
    app[ENGINE] = engine
    app[CONFIG] = config
    app[IMAGES] = images or ImageStore()
    app[ASSET_FILES] = Assets.load(config)
    app[PUSHED] = Outbox()
    app[LANES] = Lanes()
    app.add_routes(routes)
    if couriers is not None:
        couriers[CHANNEL] = WebChatCourier(app[PUSHED])
    app.on_response_prepare.append(security_headers)


__all__ = ["ImageStore", "Outbox", "WebChatConfig", "setup"]
