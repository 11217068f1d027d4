"""The web chat's HTTP side: the page, the message and photo API, the session's pictures.

    GET  /                     the page (sets the session cookie when it has none)
    GET  /webchat/{asset}      its script, style sheet and icon
    POST /api/message          {"id", "kind": text|command|choice, "payload", "locale"} -> replies (NDJSON)
    POST /api/photo            multipart: id, locale, photo (the file)                  -> replies (NDJSON)
    GET  /api/images/{id}      a picture the bot sent to this session, and to no other
    GET  /api/pushed           {"messages": [...], "working": bool}: what was pushed to this session since (results
                               of slow work, staff replies), and whether work for it is still running

A browser session is an anonymous patient: a random token in an HttpOnly, SameSite=Strict cookie; the engine
sees only a hash of it as the user id (channel "webchat"), so the database holds nothing that opens a session.
POSTs need the X-Requested-With header (a cross-site form cannot send it, a cross-site script cannot send it
without a CORS preflight that is never granted) and, where the browser says, the same origin.

Replies stream as NDJSON, one line per batch, and end with {"messages": [...], "done": true, "working": bool}; a
failure after the first line is {"error": "..."}. Slow work (a photo check, an assessment, a picture, the export)
does not keep the POST: it answers with what the turn said before the work ("analysing…", typing) and "working":
true; the engine pushes the work's replies to the web chat's Courier when it is done, and the page collects them
from GET /api/pushed (bot/webchat/push.py). A session's turns run one at a time, each behind the work the one before
left (bot/lanes.py), and a turn first streams what was pushed to the session before it, so a message sent while an
assessment runs is answered after its result. (An engine without a push path, `deliver`, keeps the POST until the
work is done and streams the work's replies at the end.) Messages render by type name: text {text}, choices {text,
options: [{data, label}], edit}, image {url, caption}, file {name, mime_type, data (base64), caption}, typing {}. A
file (the data export) travels inside the message itself and the page offers it as a download: the server keeps no
copy of it once the page has it.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.multipart import BodyPartReader

from bot.lanes import Keep, Lanes
from bot.webchat.push import Outbox
from bot.webchat.store import ImageStore
from conversations.engine import Engine
from conversations.messages import MAX_CHOICE_DATA_BYTES, Choices, File, Image, InboundEvent, Outgoing, Text
from pipeline.intake import MAX_BYTES

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

CHANNEL = "webchat"
COOKIE = "acnebot_chat"
COOKIE_MAX_AGE_S = 180 * 24 * 3600  # the patient comes back weeks later to compare
CSRF_HEADER, CSRF_VALUE = "X-Requested-With", "acnebot-webchat"
MAX_JSON_BYTES = 16 * 1024
MAX_TEXT_CHARS = 4000
MAX_FORM_OVERHEAD = 64 * 1024  # multipart boundaries, headers and the small fields around the photo
STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css", "icon.svg": "image/svg+xml"}
ROUTE_PREFIX = "webchat."
_TURNS: set[asyncio.Future] = set()

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
_COMMAND = re.compile(r"/[A-Za-z]")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
}


@dataclass(frozen=True)
class WebChatConfig:
    max_photo_bytes: int = MAX_BYTES  # what the pipeline's intake takes at most


@dataclass(frozen=True)
class Assets:
    page: bytes
    files: dict[str, tuple[bytes, str]]

    @classmethod
    def load(cls, config: WebChatConfig) -> Assets:
        page = (STATIC / "index.html").read_text(encoding="utf-8")
        page = page.replace("__MAX_PHOTO_BYTES__", str(config.max_photo_bytes))
        return cls(page.encode(), {name: ((STATIC / name).read_bytes(), kind) for name, kind in ASSETS.items()})


ENGINE = web.AppKey("webchat_engine", Engine)
CONFIG = web.AppKey("webchat_config", WebChatConfig)
IMAGES = web.AppKey("webchat_images", ImageStore)
ASSET_FILES = web.AppKey("webchat_assets", Assets)
PUSHED = web.AppKey("webchat_pushed", Outbox)
LANES = web.AppKey("webchat_lanes", Lanes)  # by session


@dataclass(frozen=True)
class Session:
    token: str

    @property
    def user_id(self) -> str:
        """What the engine and the database know the patient by: a hash, which cannot be turned back into
        the cookie."""
        return hashlib.sha256(f"acnebot webchat session {self.token}".encode()).hexdigest()[:32]

    @classmethod
    def new(cls) -> Session:
        return cls(secrets.token_urlsafe(32))


def session_of(request: web.Request) -> Session | None:
    token = request.cookies.get(COOKIE, "")
    return Session(token) if _TOKEN.fullmatch(token) else None


# -- the page --------------------------------------------------------------------------------------------------
@routes.get("/", name="webchat.page")
async def page(request: web.Request) -> web.Response:
    session = session_of(request) or Session.new()
    response = web.Response(body=request.app[ASSET_FILES].page, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})
    # Refreshed on every visit: the patient keeps their history while they keep coming back.
    response.set_cookie(COOKIE, session.token, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


@routes.get("/webchat/{name}", name="webchat.asset")
async def asset(request: web.Request) -> web.Response:
    found = request.app[ASSET_FILES].files.get(request.match_info["name"])
    if found is None:
        raise _error(web.HTTPNotFound, "not found")
    body, content_type = found
    return web.Response(body=body, content_type=content_type, headers={"Cache-Control": "no-cache"})


# -- the API ---------------------------------------------------------------------------------------------------
@routes.post("/api/message", name="webchat.message")
async def message(request: web.Request) -> web.StreamResponse:
    session = guard(request)
    try:
        body = json.loads(await _read_limited(request, MAX_JSON_BYTES))
    except (ValueError, UnicodeDecodeError):
        raise _error(web.HTTPBadRequest, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "the body must be a JSON object")
    client_id = _client_id(body.get("id"))
    kind, payload = body.get("kind"), body.get("payload")
    if kind not in ("text", "command", "choice") or not isinstance(payload, str) or not payload.strip():
        raise _error(web.HTTPBadRequest, "kind must be text, command or choice, with a non-empty payload")
    if len(payload) > MAX_TEXT_CHARS or (kind == "choice" and len(payload.encode()) > MAX_CHOICE_DATA_BYTES):
        raise _error(web.HTTPBadRequest, "the message is too long")
    payload = payload.strip()
    if kind == "text" and _COMMAND.match(payload):
        kind = "command"
    event = InboundEvent(CHANNEL, session.user_id, f"{session.user_id}:{client_id}", kind, payload,
                         locale_hint=_locale(body.get("locale")))
    return await _reply(request, session, event)


@routes.post("/api/photo", name="webchat.photo")
async def photo(request: web.Request) -> web.StreamResponse:
    session = guard(request)
    limit = request.app[CONFIG].max_photo_bytes
    if request.content_length is not None and request.content_length > limit + MAX_FORM_OVERHEAD:
        raise _too_large(limit, request.content_length, "the photo")
    try:
        reader = await request.multipart()
    except (AssertionError, KeyError, ValueError):  # not multipart, or no boundary
        raise _error(web.HTTPBadRequest, "send the photo as multipart/form-data") from None
    fields: dict[str, str] = {}
    data: bytes | None = None
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise _error(web.HTTPBadRequest, "nested multipart is not accepted")
        if part.name == "photo":
            data = await _read_part(part, limit, "the photo")
        elif part.name in ("id", "locale"):
            raw = await _read_part(part, 256, f"the field {part.name!r}")
            fields[part.name] = raw.decode("utf-8", "replace")
        else:
            await part.release()
    client_id = _client_id(fields.get("id"))
    if not data:
        raise _error(web.HTTPBadRequest, "no photo in the upload (field 'photo')")
    event = InboundEvent(CHANNEL, session.user_id, f"{session.user_id}:{client_id}", "photo", photo=data,
                         locale_hint=_locale(fields.get("locale")))
    return await _reply(request, session, event)


@routes.get("/api/images/{image_id}", name="webchat.image")
async def image(request: web.Request) -> web.Response:
    session = session_of(request)
    found = session and request.app[IMAGES].get(session.user_id, request.match_info["image_id"])
    if not found:  # someone else's picture, an expired one, or no session: all look the same
        raise _error(web.HTTPNotFound, "no such picture")
    return web.Response(body=found.data, content_type=found.mime_type,
                        headers={"Cache-Control": "private, max-age=3600",
                                 "Content-Disposition": f'inline; filename="{found.filename}"'})


@routes.get("/api/pushed", name="webchat.pushed")
async def pushed(request: web.Request) -> web.Response:
    """Polled by the page: messages pushed to this session outside a reply, each handed out once, and whether work
    for the session is still running (the page polls faster then)."""
    session = guard(request)
    messages = render(request, session, request.app[PUSHED].take(session.user_id))
    return web.json_response({"messages": messages, "working": request.app[LANES].busy(session.user_id)},
                             headers={"Cache-Control": "no-store"})


def guard(request: web.Request) -> Session:
    """What every POST (and the poll) must show: the custom header, the same origin where the browser says, a
    session."""
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise _error(web.HTTPForbidden, f"missing {CSRF_HEADER} header")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise _error(web.HTTPForbidden, "cross-origin request refused")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise _error(web.HTTPForbidden, "cross-site request refused")
    session = session_of(request)
    if session is None:
        raise _error(web.HTTPUnauthorized, "no chat session: reload the page")
    return session


# -- replies ---------------------------------------------------------------------------------------------------
async def _reply(request: web.Request, session: Session, event: InboundEvent) -> web.StreamResponse:
    """Runs the turn in the session's lane; streams what was pushed before it, what the engine says before slow
    work, then the rest.

    The turn runs to its end even when the browser goes away (its state must not be left half-way), so it is
    shielded from the handler's cancellation and writes to a gone client are dropped."""
    response = web.StreamResponse(headers={"Cache-Control": "no-store"})
    response.content_type = "application/x-ndjson"
    response.charset = "utf-8"
    gone = False

    async def send(line: dict[str, Any]) -> None:
        nonlocal gone
        if gone:
            return
        try:
            if not response.prepared:
                await response.prepare(request)
            await response.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        except (ConnectionError, RuntimeError):
            gone = True

    async def progress(messages: list[Outgoing]) -> None:
        if messages:
            await send({"messages": render(request, session, messages)})

    working = False

    async def handle(keep: Keep) -> list[Outgoing]:
        def detached(work: asyncio.Task) -> None:
            nonlocal working
            working = True
            keep(work)

        await progress(request.app[PUSHED].take(session.user_id))
        return await request.app[ENGINE].handle(event, progress, detached=detached)

    turn = asyncio.ensure_future(request.app[LANES].run(session.user_id, handle))
    _TURNS.add(turn)  # a strong reference while it runs, even when the handler has been cancelled
    turn.add_done_callback(_TURNS.discard)
    turn.add_done_callback(_log_failure)
    try:
        replies = await asyncio.shield(turn)
    except asyncio.CancelledError:
        raise
    except Exception:
        if not response.prepared:
            raise _error(web.HTTPInternalServerError, "something went wrong; please try again") from None
        await send({"error": "something went wrong; please try again"})
    else:
        await send({"messages": render(request, session, replies), "done": True, "working": working})
    if not gone:
        try:
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
    return response


def _log_failure(turn: asyncio.Future) -> None:
    if not turn.cancelled() and turn.exception() is not None:
        error = turn.exception()
        log.error("web chat turn failed", exc_info=(type(error), error, error.__traceback__))


def render(request: web.Request, session: Session, messages: list[Outgoing]) -> list[dict[str, Any]]:
    """Outgoing messages as the page's JSON, by type name; pictures go to the session's store, sent as URLs."""
    rendered = []
    for outgoing in messages:
        renderer = RENDERERS.get(outgoing.type)
        if renderer is None:
            log.warning("no web chat renderer for outgoing type %r", outgoing.type)
            continue
        rendered.append({"type": outgoing.type, **renderer(request, session, outgoing)})
    return rendered


def _text(request: web.Request, session: Session, message: Text) -> dict[str, Any]:
    return {"text": message.text}


def _choices(request: web.Request, session: Session, message: Choices) -> dict[str, Any]:
    return {"text": message.text, "options": [{"data": d, "label": l} for d, l in message.options],
            "edit": message.edit}


def _image(request: web.Request, session: Session, message: Image) -> dict[str, Any]:
    image_id = request.app[IMAGES].put(session.user_id, message.data, message.mime_type, message.filename)
    url = request.app.router["webchat.image"].url_for(image_id=image_id)
    return {"url": str(url), "caption": message.caption}


def _file(request: web.Request, session: Session, message: File) -> dict[str, Any]:
    return {"name": message.name, "mime_type": message.mime_type, "caption": message.caption,
            "data": base64.b64encode(message.data).decode("ascii")}


def _typing(request: web.Request, session: Session, message: Outgoing) -> dict[str, Any]:
    return {}


RENDERERS: dict[str, Callable[[web.Request, Session, Any], dict[str, Any]]] = {
    "text": _text, "choices": _choices, "image": _image, "file": _file, "typing": _typing}


# -- helpers ---------------------------------------------------------------------------------------------------
async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the web chat's own responses (errors included) get the security headers; other
    routes of the application (webhooks, health) are left as their owners set them."""
    route = request.match_info.route
    if route.name and route.name.startswith(ROUTE_PREFIX):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)


def _error(kind: type[web.HTTPError], reason: str) -> web.HTTPError:
    return kind(text=json.dumps({"error": reason}), content_type="application/json")


def _too_large(limit: int, actual: int, what: str) -> web.HTTPError:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    return web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=actual, content_type="application/json",
                                         text=json.dumps({"error": f"{what} is larger than {size}"}))


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, request.content_length, "the request")
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise _too_large(limit, len(data), "the request")
    return bytes(data)


async def _read_part(part: BodyPartReader, limit: int, what: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise _too_large(limit, len(data), what)
    return bytes(data)


def _client_id(value: object) -> str:
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise _error(web.HTTPBadRequest, "id must be 8-64 letters, digits, '-' or '_'")
    return value


def _locale(value: object) -> str | None:
    return value if isinstance(value, str) and _LOCALE.fullmatch(value) else None
