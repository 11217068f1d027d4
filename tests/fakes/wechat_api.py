"""A local fake of WeChat for end-to-end tests: its HTTP API (what the service calls) and its message push
(what WeChat's servers POST to the service's callback), both speaking the real protocol.

    fake = FakeWeChat()
    await fake.start()                          # http://127.0.0.1:<port>; point WECHAT_API_BASE_URL at fake.url
    fake.callback_url = "http://127.0.0.1:<service port>/wechat"
    reply = await fake.post(fake.text_xml("openid-1", "你好"))   # signed (and AES-encrypted in safe mode)
    reply.text                                  # the passive reply's text (decrypted), "" for "success"
    fake.sent("openid-1")                       # customer-service and template messages the service sent
    await fake.stop()

API side: /cgi-bin/token (client_credential; issuing a token invalidates the previous one, as WeChat does),
/cgi-bin/media/get, /cgi-bin/media/upload (multipart "media"), /cgi-bin/message/custom/send (text <= 2048
bytes, image by an uploaded media_id), /cgi-bin/message/template/send, /cgi-bin/menu/create. Errors are HTTP 200
with {"errcode", "errmsg"}. `expire_token()` makes the current token answer 42001 (expired) from now on;
`fail_next(path, errcode)` makes the next call of a path fail once; `outside_window` holds openids for which
customer-service messages answer 45015. Every call is recorded in `calls`.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret-0123456789abcdef"
TOKEN = "fakeCallbackToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's EncodingAESKey
ACCOUNT_ID = "gh_acnebot0test"
TEXT_LIMIT = 2048


@dataclass
class Call:
    """One API request as the fake received it."""

    path: str
    query: dict[str, str]
    body: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    errcode: int = 0
    at: float = field(default_factory=time.monotonic)

    @property
    def touser(self) -> str | None:
        return (self.body or {}).get("touser")

    @property
    def text(self) -> str:
        body = self.body or {}
        if body.get("msgtype") == "text":
            return body["text"]["content"]
        if "template_id" in body:
            return "\n".join(v["value"] for v in body["data"].values())
        return ""


@dataclass
class Reply:
    status: int
    body: str
    text: str = ""  # the passive reply's text content, decrypted; "" when the answer was "success"


class FakeWeChat:
    def __init__(self, *, aes: bool = True):
        self.aes = aes
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.calls: list[Call] = []
        self.posts: list[tuple[str, Reply]] = []  # (the message XML, the answer), in order
        self.media: dict[str, bytes] = {}  # media_id -> bytes: what patients sent, and what the service uploaded
        self.outside_window: set[str] = set()
        self.callback_url = ""
        self.url = ""
        self._tokens = itertools.count(1)
        self._token: str | None = None
        self._expired: set[str] = set()
        self._failures: dict[str, list[int]] = {}
        self._msg_ids = itertools.count(24_000_000_000_000_001)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/cgi-bin/token", self._token_endpoint)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/message/template/send", self._template_send)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        app.router.add_get("/pic/{media_id}", self._picture)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()
        return self.url

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls -------------------------------------------------------------------------------------------
    def expire_token(self) -> None:
        if self._token:
            self._expired.add(self._token)

    def fail_next(self, path: str, errcode: int) -> None:
        self._failures.setdefault(path, []).append(errcode)

    def called(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def sent(self, openid: str, since: int = 0) -> list[Call]:
        """Messages the service sent to the patient (customer-service and template), accepted by the fake."""
        return [c for c in self.calls[since:] if c.touser == openid and not c.errcode]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 60) -> Any:
        async with asyncio.timeout(timeout), self._changed:
            while not (value := predicate()):
                await self._changed.wait()
            return value

    # -- API endpoints -----------------------------------------------------------------------------------------
    async def _record(self, call: Call, body: dict[str, Any]) -> web.Response:
        call.errcode = int(body.get("errcode", 0))
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(body)

    def _check_token(self, path: str, query: dict[str, str]) -> dict[str, Any] | None:
        token = query.get("access_token")
        if token in self._expired:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if token is None or token != self._token:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        failures = self._failures.get(path)
        if failures:
            code = failures.pop(0)
            return {"errcode": code, "errmsg": f"injected failure {code}"}
        return None

    async def _token_endpoint(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        call = Call("/cgi-bin/token", {k: v for k, v in query.items() if k != "secret"})
        if query.get("grant_type") != "client_credential" or query.get("appid") != APP_ID \
                or query.get("secret") != APP_SECRET:
            return await self._record(call, {"errcode": 40013, "errmsg": "invalid appid or secret"})
        self._token = f"ACCESS_TOKEN_{next(self._tokens)}_{secrets.token_hex(4)}"  # the previous one stops working
        return await self._record(call, {"access_token": self._token, "expires_in": 7200})

    async def _media_get(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        call = Call("/cgi-bin/media/get", query)
        error = self._check_token(call.path, query)
        if error:
            return await self._record(call, error)
        data = self.media.get(query.get("media_id", ""))
        if data is None:
            return await self._record(call, {"errcode": 40007, "errmsg": "invalid media_id"})
        self.calls.append(call)
        return web.Response(body=data, content_type="image/jpeg",
                            headers={"Content-Disposition": 'attachment; filename="photo.jpg"'})

    async def _picture(self, request: web.Request) -> web.Response:
        data = self.media.get(request.match_info["media_id"])
        self.calls.append(Call(request.path, {}))
        return web.Response(body=data, content_type="image/jpeg") if data else web.Response(status=404)

    async def _media_upload(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        call = Call("/cgi-bin/media/upload", query)
        error = self._check_token(call.path, query)
        if error:
            return await self._record(call, error)
        form = await request.post()
        media = form.get("media")
        if query.get("type") != "image" or not isinstance(media, web.FileField):
            return await self._record(call, {"errcode": 41005, "errmsg": "media data missing"})
        data = media.file.read()
        call.files["media"] = data
        if len(data) > 10 * 1024 * 1024 or media.content_type not in ("image/jpeg", "image/png"):
            return await self._record(call, {"errcode": 40004, "errmsg": "invalid media type"})
        media_id = f"UPLOADED_{secrets.token_hex(8)}"
        self.media[media_id] = data
        return await self._record(call, {"type": "image", "media_id": media_id, "created_at": int(time.time())})

    async def _json_call(self, request: web.Request, path: str) -> tuple[Call, dict[str, Any] | None]:
        query = dict(request.query)
        raw = await request.read()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Call(path, query), {"errcode": 47001, "errmsg": "data format error"}
        if b"\\u" in raw:  # WeChat shows \uXXXX escapes literally: Chinese must be sent as UTF-8
            return Call(path, query, body), {"errcode": 47001, "errmsg": "escaped unicode"}
        call = Call(path, query, body)
        return call, self._check_token(path, query)

    async def _custom_send(self, request: web.Request) -> web.Response:
        call, error = await self._json_call(request, "/cgi-bin/message/custom/send")
        if error:
            return await self._record(call, error)
        body = call.body
        if body.get("touser") in self.outside_window:
            return await self._record(call, {"errcode": 45015, "errmsg": "response out of time limit"})
        if body.get("msgtype") == "text":
            if not body["text"].get("content") or len(body["text"]["content"].encode()) > TEXT_LIMIT:
                return await self._record(call, {"errcode": 45002, "errmsg": "content size out of limit"})
        elif body.get("msgtype") == "image":
            if body["image"].get("media_id") not in self.media:
                return await self._record(call, {"errcode": 40007, "errmsg": "invalid media_id"})
        else:
            return await self._record(call, {"errcode": 40008, "errmsg": "invalid message type"})
        return await self._record(call, {"errcode": 0, "errmsg": "ok"})

    async def _template_send(self, request: web.Request) -> web.Response:
        call, error = await self._json_call(request, "/cgi-bin/message/template/send")
        if error:
            return await self._record(call, error)
        if not call.body.get("template_id") or not isinstance(call.body.get("data"), dict):
            return await self._record(call, {"errcode": 40037, "errmsg": "invalid template_id"})
        return await self._record(call, {"errcode": 0, "errmsg": "ok", "msgid": next(self._msg_ids)})

    async def _menu_create(self, request: web.Request) -> web.Response:
        call, error = await self._json_call(request, "/cgi-bin/menu/create")
        if error:
            return await self._record(call, error)
        buttons = call.body.get("button") or []
        if not 1 <= len(buttons) <= 3 or any(len(b["name"].encode()) > 16 or not b.get("key") for b in buttons):
            return await self._record(call, {"errcode": 40017, "errmsg": "invalid button"})
        return await self._record(call, {"errcode": 0, "errmsg": "ok"})

    # -- WeChat's servers: messages POSTed to the callback ---------------------------------------------------------
    def _xml(self, openid: str, msg_type: str, fields: dict[str, str | int], created: int | None) -> str:
        values = {"ToUserName": ACCOUNT_ID, "FromUserName": openid, "CreateTime": created or int(time.time()),
                  "MsgType": msg_type, **fields}
        inner = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                        for k, v in values.items())
        return f"<xml>{inner}</xml>"

    def text_xml(self, openid: str, content: str, created: int | None = None) -> str:
        return self._xml(openid, "text", {"Content": content, "MsgId": next(self._msg_ids)}, created)

    def image_xml(self, openid: str, data: bytes, *, media: bool = True, created: int | None = None) -> str:
        media_id = f"PATIENT_{secrets.token_hex(8)}"
        self.media[media_id] = data
        return self._xml(openid, "image", {"PicUrl": f"{self.url}/pic/{media_id}",
                                           "MediaId": media_id if media else "NOT_A_MEDIA_ID",
                                           "MsgId": next(self._msg_ids)}, created)

    def event_xml(self, openid: str, event: str, key: str = "", created: int | None = None) -> str:
        return self._xml(openid, "event", {"Event": event, "EventKey": key}, created)

    def voice_xml(self, openid: str, created: int | None = None) -> str:
        return self._xml(openid, "voice", {"MediaId": "VOICE_1", "Format": "amr", "Recognition": "",
                                           "MsgId": next(self._msg_ids)}, created)

    def signed_query(self, timestamp: int | None = None, token: str = TOKEN) -> dict[str, str]:
        timestamp_text, nonce = str(timestamp or int(time.time())), str(secrets.randbelow(10**9))
        signature = hashlib.sha1("".join(sorted([token, timestamp_text, nonce])).encode()).hexdigest()
        return {"signature": signature, "timestamp": timestamp_text, "nonce": nonce}

    def envelope(self, xml: str, query: dict[str, str], app_id: str = APP_ID) -> tuple[str, dict[str, str]]:
        """Safe mode: the message encrypted (for `app_id`) in WeChat's <Encrypt> envelope, msg_signature added."""
        crypto = self.crypto if app_id == APP_ID else WeChatCrypto(TOKEN, AES_KEY, app_id)
        sealed = xmltodict.parse(crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT_ID}]]></ToUserName>"
                f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>")
        return body, {**query, "openid": "x", "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}

    async def post(self, xml: str, *, query: dict[str, str] | None = None, raw: bool = False,
                   url: str | None = None) -> Reply:
        """POSTs a message as WeChat does (signed; sealed in safe mode unless raw) and reads the answer; to
        `url` (another replica's callback) instead of callback_url if given."""
        query = query or self.signed_query()
        body = xml
        if self.aes and not raw:
            body, query = self.envelope(xml, query)
        async with self._session.post(url or self.callback_url, params=query, data=body.encode(),
                                      headers={"Content-Type": "text/xml"}) as response:
            reply = Reply(response.status, await response.text())
        if reply.status == 200 and reply.body not in ("", "success"):
            reply.text = self.read_reply(reply.body)
        self.posts.append((xml, reply))
        return reply

    def read_reply(self, body: str) -> str:
        if self.aes:
            sealed = xmltodict.parse(body)["xml"]
            body = self.crypto.decrypt_message(body, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"])
        message = xmltodict.parse(body)["xml"]
        assert message["MsgType"] == "text" and message["ToUserName"] and message["FromUserName"] == ACCOUNT_ID
        return message["Content"]
