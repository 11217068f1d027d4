"""The staff console: server-rendered pages (aiohttp + Jinja2) on CONSOLE_PORT, for support staff and admins.

    app = build_console(db, ConsoleConfig.from_settings(settings))   # bot.service.app.create_console_app does this

Pages: /login, /handovers (the queue of patients who asked for a person; handovers.py), /patients (search,
pages), /patients/{id} (profile, reminder, check-ins, pictures, trend), /patients/{id}/transcript,
/patients/{id}/delete (admins), /audit (admins). Who sees which patient: roles.py. Accounts come from the command
line only (`acnebot staff add|passwd|disable|list`, bot/console/staff_cli.py). Security: auth.py and web.py.
"""
from __future__ import annotations

from aiohttp import web

from bot.console import auth, views
from bot.console import handovers as handover_pages
from bot.console.site import (CONFIG, DB, HANDOVERS, JINJA, PICTURES, PUBLIC, STATIC, ConsoleConfig, environment,
                              favicon, security_headers, switch_language)
from bot.handover import HandoverService
from storage import Database

__all__ = ["CONFIG", "DB", "PUBLIC", "ConsoleConfig", "build_console"]


def build_console(db: Database, config: ConsoleConfig | None = None,
                  handovers: HandoverService | None = None, pictures=None) -> web.Application:
    """The console application on `db`; route hooks may add routes (and public paths to app[PUBLIC]).
    `handovers` pushes staff replies to the patients' chats; without it the handover pages are read-only.
    `pictures(function, *args)` renders photos and charts (the service: its worker processes)."""
    app = web.Application(middlewares=[security_headers, auth.sessions], client_max_size=64 * 1024)
    app[DB], app[CONFIG], app[JINJA] = db, config or ConsoleConfig(), environment()
    if handovers is not None:
        app[HANDOVERS] = handovers
    if pictures is not None:
        app[PICTURES] = pictures
    auth.setup_public(app)
    app.router.add_routes(auth.routes)
    app.router.add_routes(views.routes)
    app.router.add_routes(handover_pages.routes)
    app.router.add_get("/lang/{code}", switch_language)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC)
    return app
