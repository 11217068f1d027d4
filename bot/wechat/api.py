"""The WeChat official-account HTTP API, called with aiohttp (wechatpy's client is synchronous, on requests).

    api = WeChatAPI(settings, db.cache)
    await api.start()
    await api.send_text(openid, "你好")          # customer-service message
    await api.close()

Every call carries the access token, which lives in the database (storage's kv_cache), not in the process:
WeChat keeps one token valid per account and a refresh invalidates the previous one, so replicas must share it
and only one may refresh at a time. The refresher is whoever adds the lock key first; the others wait for the
new token to appear. A call answered "token invalid/expired" (40001, 40014, 42001) refreshes and is retried
once. WeChat answers errors as HTTP 200 with {"errcode": n, "errmsg": "..."}: they are raised as WeChatError.
Nothing here logs a URL (it holds the token) or what is sent.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp

from bot.settings import Settings
from storage.columns import utcnow
from storage.repositories.cache import CacheRepository

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid, malformed, expired access token
OUTSIDE_WINDOW = 45015  # the patient has not written for 48 hours
TOO_MANY_MESSAGES = 45047  # customer-service quota since the patient's last message is used up
UNSUBSCRIBED = 43004
REFRESH_EARLY = timedelta(minutes=5)  # a token is replaced this long before WeChat's expiry
LOCK_TTL = timedelta(seconds=30)  # a refresher that died holds the lock no longer than this
LOCK_WAIT = 30.0  # seconds another replica's refresh is waited for
LOCK_POLL = 0.05
MAX_MEDIA_BYTES = 25 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=30)


class WeChatError(Exception):
    def __init__(self, code: int, message: str = ""):
        super().__init__(f"WeChat error {code}: {message}")
        self.code = code


class WeChatAPI:
    def __init__(self, settings: Settings, cache: CacheRepository):
        self.base_url = settings.wechat_api_base_url.rstrip("/")
        self.app_id = settings.wechat_app_id or ""
        self._secret = settings.reveal("wechat_app_secret") or ""
        self.cache = cache
        self._token_key = f"wechat:{self.app_id}:access_token"
        self._lock_key = f"wechat:{self.app_id}:access_token:refreshing"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> WeChatAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("WeChatAPI.start() was not called")
        return self._session

    # -- the access token, shared by every replica -------------------------------------------------------------
    async def access_token(self) -> str:
        return await self.cache.get(self._token_key) or await self._refresh(stale=None)

    async def _refresh(self, stale: str | None) -> str:
        """A token other than `stale`: one a replica stored meanwhile, or one fetched here under the lock."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + LOCK_WAIT
        while True:
            current = await self.cache.get(self._token_key)
            if current and current != stale:
                return current
            now = utcnow()
            if await self.cache.add(self._lock_key, "1", expires_at=now + LOCK_TTL):
                try:
                    token, expires_in = await self._fetch_token()
                    await self.cache.set(self._token_key, token,
                                         now + max(timedelta(seconds=expires_in) - REFRESH_EARLY, timedelta(60)))
                    log.info("WeChat: access token refreshed (valid %d s)", expires_in)
                    return token
                finally:
                    await self.cache.delete(self._lock_key)
            if loop.time() > give_up:
                raise WeChatError(-1, "another replica's token refresh did not finish")
            await asyncio.sleep(LOCK_POLL)

    async def _fetch_token(self) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        async with self.session.get(f"{self.base_url}/cgi-bin/token", params=params) as response:
            body = _checked(await _json(response))
        return body["access_token"], int(body.get("expires_in", 7200))

    # -- calls -------------------------------------------------------------------------------------------------
    async def call(self, path: str, payload: dict[str, Any] | None = None, *, params: dict[str, str] | None = None,
                   form: aiohttp.FormData | None = None) -> dict[str, Any]:
        """POST (or GET without a payload or form) `path` with the access token; errors raise WeChatError."""
        response = await self._request(path, payload, params, form, raw=False)
        return response  # type: ignore[return-value]

    async def _request(self, path: str, payload: dict[str, Any] | None, params: dict[str, str] | None,
                       form: aiohttp.FormData | None, *, raw: bool) -> dict[str, Any] | bytes:
        token = await self.access_token()
        for attempt in (1, 2):
            query = {**(params or {}), "access_token": token}
            url = f"{self.base_url}{path}"
            if payload is None and form is None:
                request = self.session.get(url, params=query)
            else:
                body = form if form is not None else json.dumps(payload, ensure_ascii=False).encode()
                headers = None if form is not None else {"Content-Type": "application/json; charset=utf-8"}
                request = self.session.post(url, params=query, data=body, headers=headers)
            async with request as response:
                if raw and not _is_json(response):
                    return await _read_media(response)
                body = await _json(response)
            code = int(body.get("errcode") or 0)
            if code in TOKEN_ERRORS and attempt == 1:
                log.info("WeChat %s: access token refused (%d); refreshing", path, code)
                token = await self._refresh(stale=token)
                continue
            return _checked(body)
        raise AssertionError("unreachable")

    async def get_media(self, media_id: str) -> bytes:
        """A temporary media file the patient sent (an image's MediaId)."""
        data = await self._request("/cgi-bin/media/get", None, {"media_id": media_id}, None, raw=True)
        return data  # type: ignore[return-value]

    async def download(self, url: str) -> bytes:
        """A picture by its PicUrl (WeChat's CDN; no token)."""
        async with self.session.get(url) as response:
            response.raise_for_status()
            return await _read_media(response)

    async def upload_image(self, data: bytes, filename: str, mime_type: str) -> str:
        """A temporary image (kept 3 days by WeChat); returns its media_id."""
        form = aiohttp.FormData()
        form.add_field("media", data, filename=filename, content_type=mime_type)
        body = await self.call("/cgi-bin/media/upload", params={"type": "image"}, form=form)
        return body["media_id"]

    async def send_text(self, openid: str, text: str) -> None:
        await self.call("/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_image(self, openid: str, media_id: str) -> None:
        await self.call("/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})

    async def send_template(self, openid: str, template_id: str, data: dict[str, str]) -> None:
        await self.call("/cgi-bin/message/template/send", {
            "touser": openid, "template_id": template_id, "data": {k: {"value": v} for k, v in data.items()}})

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self.call("/cgi-bin/menu/create", menu)


async def _read_media(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, refused past MAX_MEDIA_BYTES (a photo for the pipeline, whose intake has the same limit)."""
    if (response.content_length or 0) > MAX_MEDIA_BYTES:
        raise WeChatError(-2, "media too large")
    data = bytearray()
    async for chunk in response.content.iter_chunked(256 * 1024):
        data += chunk
        if len(data) > MAX_MEDIA_BYTES:
            raise WeChatError(-2, "media too large")
    return bytes(data)


def _is_json(response: aiohttp.ClientResponse) -> bool:
    return response.content_type in ("application/json", "text/plain", "text/json")


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    if response.status >= 400:
        raise WeChatError(-response.status, f"HTTP {response.status}")
    try:
        body = json.loads(await response.text())
    except ValueError as error:
        raise WeChatError(-3, "not JSON") from error
    if not isinstance(body, dict):
        raise WeChatError(-3, "not a JSON object")
    return body


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    code = int(body.get("errcode") or 0)
    if code:
        raise WeChatError(code, str(body.get("errmsg", "")))
    return body
