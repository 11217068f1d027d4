"""The console's HTTP plumbing: typed app state, Jinja2 rendering, security headers, language choice.

Every response gets a CSP without 'unsafe-inline', frame-ancestors 'none', nosniff and no-referrer; everything
but the static files is Cache-Control: no-store (patient pages and pictures must not stay in a browser cache).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot.console.catalogue import LANGUAGES, negotiate, translate
from storage import Database
from storage.columns import utcnow
from storage.repositories.staff_sessions import StaffSession

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
LANG_COOKIE = "acnebot_console_lang"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class ConsoleConfig:
    secure_cookie: bool = True
    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    page_size: int = 20
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Any) -> ConsoleConfig:
        return cls(secure_cookie=settings.console_secure_cookie,
                   idle=timedelta(minutes=settings.console_session_idle_minutes),
                   lifetime=timedelta(hours=settings.console_session_hours),
                   max_failures=settings.console_login_max_failures,
                   lockout=timedelta(minutes=settings.console_lockout_minutes))


DB = web.AppKey("console_db", Database)
CONFIG = web.AppKey("console_config", ConsoleConfig)
JINJA = web.AppKey("console_jinja", jinja2.Environment)
# bot.handover.HandoverService: staff replies and closes pushed to the patient's chat (absent: replies cannot go).
HANDOVERS = web.AppKey("console_handovers", object)
# How pictures are made: the service passes its pool's worker processes (WorkerPool.run), so rendering and
# its libraries stay out of the chat process; a console on its own renders in a thread.
PICTURES = web.AppKey("console_pictures", object)
# Paths anyone may open (the login page, styles; hooks add /metrics and /healthz); everything else needs a login.
PUBLIC = web.AppKey("console_public", set)
PUBLIC_PREFIXES = ("/static/", "/lang/")
LOCALE = web.RequestKey("console_locale", str)
STAFF_SESSION = web.RequestKey("console_staff_session", StaffSession)
CSRF = web.RequestKey("console_csrf", str)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M") if value else "—"
    env.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else "—"
    return env


def locale_of(request: web.Request) -> str:
    return request.get(LOCALE) or negotiate(request.cookies.get(LANG_COOKIE),
                                              request.headers.get("Accept-Language"))


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    locale = locale_of(request)
    staff_session = request.get(STAFF_SESSION)
    body = request.app[JINJA].get_template(template).render(
        t=lambda key, **values: translate(locale, key, **values), locale=locale, languages=LANGUAGES,
        staff=staff_session.staff if staff_session else None, csrf=request.get(CSRF, ""),
        path=request.path_qs, **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def fail(request: web.Request, status: int, key: str) -> web.Response:
    return render(request, "error.html", status=status, message_key=key)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[LOCALE] = locale_of(request)
    try:
        response = await handler(request)
    except web.HTTPException as error:  # redirects and refusals carry the headers too
        _protect(request, error.headers)
        raise
    _protect(request, response.headers)
    return response


def _protect(request: web.Request, headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in or switching language; never another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/patients"


async def favicon(request: web.Request) -> web.FileResponse:
    """Browsers ask for /favicon.ico whatever the page says; answered here so it is no 401/404 noise."""
    return web.FileResponse(STATIC / "icon.svg", headers={"Content-Type": "image/svg+xml"})


async def switch_language(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if code not in LANGUAGES:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="Strict",
                        secure=request.app[CONFIG].secure_cookie, path="/")
    raise response
