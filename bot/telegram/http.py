"""python-telegram-bot's networking on aiohttp instead of httpx (PTB's `BaseRequest` is made to be replaced).

Why: under 40 simultaneous check-ins on 2 cores, half of the service's event-loop time went to httpx inside the
Bot API calls (a profile of bench/bench_turns_under_load.py), and other patients' turns queued behind it; the
service already serves its webhook with aiohttp. PTB turns the status and body returned here into its errors.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


_TOKEN = re.compile(r"/bot[^/\s'\"]+")  # /bot<token>/method and /file/bot<token>/path


class AiohttpRequest(BaseRequest):
    """One aiohttp session with up to `pool_size` connections. aiohttp has no write timeout of its own, so a
    request is also bounded as a whole: waiting for a connection, connecting, writing (longer with files) and
    reading its answer."""

    def __init__(self, *, pool_size: int = 256, connect_timeout: float = 5.0, read_timeout: float = 5.0,
                 write_timeout: float = 5.0, media_write_timeout: float = 20.0, pool_timeout: float = 1.0):
        self._pool_size = pool_size
        self._timeouts = {"connect": connect_timeout, "read": read_timeout, "write": write_timeout,
                          "pool": pool_timeout}
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._pool_size),
                                                  headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        default_write = self._media_write_timeout if files else self._timeouts["write"]
        read, connect, pool = (_given(given, self._timeouts[name])
                               for name, given in (("read", read_timeout), ("connect", connect_timeout),
                                                   ("pool", pool_timeout)))
        write = _given(write_timeout, default_write)
        total = None if None in (read, write, connect, pool) else pool + connect + write + read
        timeout = aiohttp.ClientTimeout(total=total, connect=None if None in (pool, connect) else pool + connect,
                                        sock_connect=connect, sock_read=read)
        try:
            async with self._session.request(method, url, data=_body(request_data, files), timeout=timeout) as res:
                return res.status, await res.read()
        except asyncio.TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # Some aiohttp errors quote the URL, and the Bot API's holds the token: it must not reach a log, nor
            # through the chained original (the error handler logs the traceback).
            raise NetworkError(f"aiohttp.{type(error).__name__}: {_TOKEN.sub('/bot<token>', str(error))}") from None


def _given(timeout: Any, default: float) -> float | None:
    """A timeout a call passed (seconds, or None: no limit); PTB's placeholder for "not given" -> the default."""
    return timeout if timeout is None or isinstance(timeout, (int, float)) else default


def _body(request_data: RequestData | None, files: dict | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields, as httpx sends them to the Bot API (JSON-encoded values); multipart when there are files."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return fields
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
