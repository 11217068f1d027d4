"""Signing in and out, server-side sessions, CSRF tokens, the login throttle.

The session cookie holds a random token (HttpOnly, SameSite=Strict, Secure unless the console is on loopback);
the database keeps its SHA-256, the staff id, the session's CSRF token and the times that expire it (idle and
absolute). Before signing in, a short-lived cookie carries the login form's CSRF token (double submit).
Every POST must carry the right token in its "csrf" field. Failed sign-ins are counted per account and per
address in the database, so every replica sees the same lock-out.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets

from aiohttp import web

from bot.console.passwords import hash_password, needs_rehash, verify_password
from bot.console.site import (CONFIG, CSRF, DB, PUBLIC, PUBLIC_PREFIXES, STAFF_SESSION, Handler, fail, render,
                              safe_next)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

COOKIE = "acnebot_console"
LOGIN_CSRF_COOKIE = "acnebot_console_login"
IP_FAILURE_FACTOR = 4  # an address (maybe a shared office NAT) may fail more often than one account


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loads the session from the cookie; refuses protected paths without one and POSTs without the token."""
    app, config = request.app, request.app[CONFIG]
    token = request.cookies.get(COOKIE)
    found = None
    if token:
        found = await app[DB].staff_sessions.touch_session(token_hash(token), idle=config.idle,
                                                           lifetime=config.lifetime, now=config.clock())
    if found is not None:
        request[STAFF_SESSION], request[CSRF] = found, found.csrf
    public = request.path in app[PUBLIC] or request.path.startswith(PUBLIC_PREFIXES)
    if found is None and not public:
        if _wants_page(request):
            raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
        raise web.HTTPUnauthorized(text="sign in first")
    if request.method == "POST":
        expected = found.csrf if found is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
        given = (await request.post()).get("csrf")
        if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
            if request.path == "/login":
                return await _login_page(request, "login.expired", status=403)
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return await handler(request)


def require_admin(request: web.Request) -> None:
    if request[STAFF_SESSION].staff.role != "admin":
        raise web.HTTPForbidden(text=fail(request, 403, "error.forbidden").text, content_type="text/html")


async def _login_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    csrf = secrets.token_urlsafe(32)
    request[CSRF] = csrf
    response = render(request, "login.html", status=status, error=error, next=safe_next(request.query.get("next")))
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=3600, httponly=True, samesite="Strict",
                        secure=request.app[CONFIG].secure_cookie, path="/login")
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    if STAFF_SESSION in request:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return await _login_page(request)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    db, config = request.app[DB], request.app[CONFIG]
    form = await request.post()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    now = config.clock()
    account_key, address_key = f"user:{username.lower()}", f"ip:{request.remote}"
    if await db.login_throttle.locked_until([account_key, address_key], now) is not None:
        return await _login_page(request, "login.locked", status=429)
    staff = await db.staff.get_staff(username) if username else None
    loop = asyncio.get_running_loop()
    good = await loop.run_in_executor(None, verify_password, staff.password_hash if staff else None, password)
    if not good or staff is None or staff.disabled:
        locked = await db.login_throttle.record_failure(account_key, now, window=config.lockout,
                                                        max_failures=config.max_failures, lockout=config.lockout)
        locked |= await db.login_throttle.record_failure(address_key, now, window=config.lockout,
                                                         max_failures=config.max_failures * IP_FAILURE_FACTOR,
                                                         lockout=config.lockout)
        log.info("console sign-in failed%s", " (now locked)" if locked else "")
        if locked:
            await db.audit.record("console.lockout", staff_id=staff.id if staff else None, at=now)
        return await _login_page(request, "login.locked" if locked else "login.failed",
                                 status=429 if locked else 401)
    await db.login_throttle.clear(account_key)
    if needs_rehash(staff.password_hash):
        await db.staff.set_password(staff.username, await loop.run_in_executor(None, hash_password, password))
    await db.staff_sessions.purge_expired(idle=config.idle, lifetime=config.lifetime, now=now)
    token = secrets.token_urlsafe(32)
    await db.staff_sessions.create_session(token_hash(token), staff.id, secrets.token_urlsafe(32), now)
    await db.audit.record("console.login", staff_id=staff.id, at=now)
    response = web.HTTPSeeOther(safe_next(str(form.get("next") or "")))
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=config.secure_cookie, path="/")
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    await request.app[DB].staff_sessions.delete_session(request[STAFF_SESSION].token_hash)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def setup_public(app: web.Application) -> None:
    app[PUBLIC] = {"/login", "/favicon.ico"}
