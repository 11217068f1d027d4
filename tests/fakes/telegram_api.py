"""A local fake of the Telegram Bot API on aiohttp, speaking the real protocol, for end-to-end tests.

    fake = FakeTelegram()
    await fake.start()                        # http://127.0.0.1:<port>; point TELEGRAM_API_BASE_URL at fake.url
    alice = fake.user(1001, "Alice", "en")
    update_id = await fake.send_command(alice, "/start")   # queued for getUpdates, or POSTed to the webhook
    fake.sent(alice)                          # what the bot sent to Alice's chat: [Call("sendMessage", ...)]
    await fake.press(alice, "Accept")         # a callback query on the latest message with that button
    await fake.stop()

The bot side: /bot<token>/<method> for getMe, getUpdates (long poll: offset confirms, timeout waits),
sendMessage, sendPhoto (multipart upload or file_id), sendDocument (multipart upload), sendChatAction, getFile, answerCallbackQuery,
editMessageText, setMyCommands / getMyCommands, setWebhook / deleteWebhook / getWebhookInfo; files at
/file/bot<token>/<path>. Parameters come as form fields (non-strings JSON-encoded, as python-telegram-bot sends
them), multipart (with uploads) or a JSON body. Every call is recorded in `calls`; requests are validated the
way Telegram does (lengths, callback_data size, known chats and messages) and refused with Telegram's error JSON.
`fail_next(method, retry_after=1)` makes the next call of a method answer 429 (flood control), or any other
code (`code=502`); `stall_next(method, seconds)` makes it hang and then answer 504 without doing anything, as a
request lost on the way does (the client has timed out by then); `block(user)` makes every message to that
user's chat answer 403 "bot was blocked by the user", as Telegram does.

The user side: updates shaped like Telegram's (text, commands with a bot_command entity, callback queries on a
message's buttons, photos in several sizes, photos sent as documents, albums, stickers, voice, locations).
With a webhook set (setWebhook), updates are POSTed to its URL with the secret-token header instead.
"""
from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT = {"id": 123456789, "is_bot": True, "first_name": "acnebot (test)", "username": "acnebot_test_bot",
       "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
# Parameters that are plain strings on the wire; everything else arrives JSON-encoded in form fields.
STRING_PARAMS = {"text", "caption", "parse_mode", "callback_query_id", "file_id", "url", "secret_token",
                 "action", "language_code", "inline_message_id", "ip_address", "certificate",
                 "business_connection_id", "message_effect_id"}
SENDING = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "sendChatAction")
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # what a bot may upload


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass
class Call:
    """One Bot API request as the server received it: parameters decoded, uploads as bytes."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    at: float = field(default_factory=time.monotonic)
    result: Any = field(default=None, repr=False)

    @property
    def chat_id(self) -> int | None:
        chat = self.params.get("chat_id")
        return int(chat) if chat is not None else None

    @property
    def text(self) -> str:
        return self.params.get("text") or self.params.get("caption") or ""

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of the inline keyboard, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str
    language_code: str | None = "en"

    def as_json(self) -> dict:
        user = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat(self) -> dict:
        return {"id": self.id, "type": "private", "first_name": self.first_name}


class FakeTelegram:
    def __init__(self, token: str = TOKEN, *, max_file_bytes: int = 20 * 1024 * 1024):
        self.token = token
        self.max_file_bytes = max_file_bytes
        self.calls: list[Call] = []
        self.updates: list[dict] = []  # not yet confirmed by a getUpdates offset
        self.delivered: set[int] = set()  # update ids a getUpdates answer or a webhook POST carried
        self.messages: dict[int, dict[int, dict]] = defaultdict(dict)  # chat id -> message id -> message
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.commands: dict[str, list[dict]] = {}  # language code ("" = default) -> commands
        self.webhook: dict[str, Any] | None = None
        self.webhook_statuses: list[int] = []
        self.downloads: list[str] = []  # file paths downloaded
        self.blocked: set[int] = set()  # chats whose user blocked the bot
        self._update_ids = itertools.count(700_000_001)
        self._message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(5_000_000_001)
        self._failures: dict[str, list[dict]] = defaultdict(list)
        self._history: list[dict] = []  # every update made, delivered or not
        self._sent_at: dict[int, float] = {}  # update id -> when the user sent it
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    # -- server ----------------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        self._closing = True  # long polls still waiting answer now, so the server stops at once
        await self._notify()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        try:
            params, files = await _parse(request)
        except ValueError as error:
            return _error_response(ApiError(400, f"Bad Request: {error}"))
        call = Call(method, params, files)
        self.calls.append(call)
        try:
            handler = self._methods().get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            failures = self._failures.get(method)
            if failures:
                failure = failures.pop(0)
                error = ApiError(failure["code"], failure["description"], **failure["parameters"])
                if failure.get("stall"):
                    call.result = error  # never done, whenever the answer leaves
                    await asyncio.sleep(failure["stall"])
                raise error
            result = handler(params, files)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            call.result = error
            await self._notify()
            return _error_response(error)
        call.result = result
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for file_path, data in self.files.values():
            if file_path == path:
                self.downloads.append(path)
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    def _methods(self) -> dict[str, Callable[[dict, dict], Any]]:
        return {"getme": lambda p, f: BOT, "getupdates": self._get_updates, "sendmessage": self._send_message,
                "sendphoto": self._send_photo, "senddocument": self._send_document,
                "sendchataction": self._send_chat_action,
                "getfile": self._get_file, "answercallbackquery": self._answer_callback_query,
                "editmessagetext": self._edit_message_text, "setmycommands": self._set_my_commands,
                "getmycommands": self._get_my_commands, "deletemycommands": self._delete_my_commands,
                "setwebhook": self._set_webhook, "deletewebhook": self._delete_webhook,
                "getwebhookinfo": self._get_webhook_info, "close": lambda p, f: True,
                "logout": lambda p, f: True}

    def fail_next(self, method: str, *, retry_after: int | None = 1, code: int = 429,
                  description: str | None = None) -> None:
        """The next call of `method` fails: by default with Telegram's flood-control 429 and retry_after."""
        parameters = {"retry_after": retry_after} if retry_after is not None else {}
        self._failures[method].append({"code": code, "parameters": parameters,
                                       "description": description or f"Too Many Requests: retry after {retry_after}"})

    def block(self, user: FakeUser | int) -> None:
        """The user blocks the bot: sending to their chat is refused with 403 from now on."""
        self.blocked.add(user.id if isinstance(user, FakeUser) else user)

    def stall_next(self, method: str, seconds: float) -> None:
        self._failures[method].append({"code": 504, "parameters": {}, "description": "Gateway Timeout",
                                       "stall": seconds})

    # -- bot methods -------------------------------------------------------------------------------------------
    async def _get_updates(self, params: dict, files: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                "deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if offset > 0:  # confirms every update before it
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:  # the last -offset updates; the rest are forgotten
            self.updates, offset = self.updates[offset:], 0
        allowed = params.get("allowed_updates") or None
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                ready = [u for u in self.updates if u["update_id"] >= offset and _allowed(u, allowed)][:limit]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._closing:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass
        self.delivered.update(u["update_id"] for u in ready)
        return ready

    def _send_message(self, params: dict, files: dict) -> dict:
        chat = self._chat(params)
        text = _required(params, "text")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._bot_message(chat, {"text": text}, params)

    def _media(self, params: dict, files: dict, name: str) -> tuple[int, dict, Any]:
        """The chat, the caption fields and the uploaded file (or file_id) of a sendPhoto/sendDocument."""
        chat = self._chat(params)
        caption = params.get("caption") or ""
        if len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        media = params.get(name)
        if isinstance(media, str) and media.startswith("attach://"):
            media = files.get(media[len("attach://"):])
        return chat, {"caption": caption} if caption else {}, media

    def _send_photo(self, params: dict, files: dict) -> dict:
        chat, fields, photo = self._media(params, files, "photo")
        if "photo" in files and not isinstance(photo, bytes):
            photo = files["photo"]
        if isinstance(photo, bytes):
            if not photo:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if photo[:3] != b"\xff\xd8\xff" and photo[:8] != b"\x89PNG\r\n\x1a\n":
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
            sizes = self._photo_sizes(photo)
        elif isinstance(photo, str) and photo in self.files:
            sizes = [{"file_id": photo, "file_unique_id": "u" + photo, "width": 1, "height": 1}]
        else:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        return self._bot_message(chat, {"photo": sizes, **fields}, params)

    def _send_document(self, params: dict, files: dict) -> dict:
        chat, fields, document = self._media(params, files, "document")
        if not isinstance(document, bytes) or not document:
            raise ApiError(400, "Bad Request: there is no document in the request")
        if len(document) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        file_id = self._store_file(document, "documents", "bin")
        return self._bot_message(chat, {"document": {"file_id": file_id, "file_unique_id": "u" + file_id,
                                                     "file_size": len(document)}, **fields}, params)

    def _send_chat_action(self, params: dict, files: dict) -> bool:
        self._chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _get_file(self, params: dict, files: dict) -> dict:
        file_id = _required(params, "file_id")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        if len(data) > self.max_file_bytes:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": "u" + file_id, "file_size": len(data), "file_path": path}

    def _answer_callback_query(self, params: dict, files: dict) -> bool:
        query_id = _required(params, "callback_query_id")
        if not any(u.get("callback_query", {}).get("id") == query_id for u in self._all_updates()):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(params.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: text is too long")
        return True

    def _edit_message_text(self, params: dict, files: dict) -> dict:
        chat = self._chat(params)
        text = _required(params, "text")
        message = self.messages[chat].get(int(params.get("message_id") or 0))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != BOT["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        markup = self._markup(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        message.update(text=text, edit_date=int(time.time()))
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        return message

    def _set_my_commands(self, params: dict, files: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not (1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)):
                raise ApiError(400, f"Bad Request: BOT_COMMAND_INVALID: {name!r}")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: command description is empty or too long")
        self.commands[params.get("language_code") or ""] = commands
        return True

    def _get_my_commands(self, params: dict, files: dict) -> list[dict]:
        return self.commands.get(params.get("language_code") or "", [])

    def _delete_my_commands(self, params: dict, files: dict) -> bool:
        self.commands.pop(params.get("language_code") or "", None)
        return True

    def _set_webhook(self, params: dict, files: dict) -> bool:
        url = _required(params, "url")
        if not url:
            return self._delete_webhook(params, files)
        secret = params.get("secret_token")
        if secret is not None and not (1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates")}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _delete_webhook(self, params: dict, files: dict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _get_webhook_info(self, params: dict, files: dict) -> dict:
        info = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self.updates)}
        if self.webhook:
            info["url"] = self.webhook["url"]
        return info

    # -- bot-side helpers ------------------------------------------------------------------------------------------
    def _chat(self, params: dict) -> int:
        chat = params.get("chat_id")
        try:
            chat_id = int(chat)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id not in self.messages:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _markup(self, params: dict) -> dict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _bot_message(self, chat: int, fields: dict, params: dict) -> dict:
        message = {"message_id": next(self._message_ids[chat]), "from": BOT, "date": int(time.time()),
                   "chat": self._chat_json(chat), **fields}
        markup = self._markup(params)
        if markup:
            message["reply_markup"] = markup
        self.messages[chat][message["message_id"]] = message
        return message

    def _chat_json(self, chat: int) -> dict:
        for message in self.messages[chat].values():
            return message["chat"]
        return {"id": chat, "type": "private"}

    def _photo_sizes(self, data: bytes) -> list[dict]:
        """A thumbnail and the photo itself, smallest first, as Telegram lists a photo's sizes."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            thumb = image.convert("RGB")
            thumb.thumbnail((90, 90))
            out = io.BytesIO()
            thumb.save(out, "JPEG")
        sizes = []
        for content, (w, h) in ((out.getvalue(), thumb.size), (data, (width, height))):
            file_id = self._store_file(content, "photos", "jpg")
            sizes.append({"file_id": file_id, "file_unique_id": "u" + file_id, "width": w, "height": h,
                          "file_size": len(content)})
        return sizes

    def _store_file(self, data: bytes, folder: str, extension: str) -> str:
        number = next(self._file_ids)
        file_id = f"AgACAgQAAxk{number:06d}"
        self.files[file_id] = (f"{folder}/file_{number}.{extension}", data)
        return file_id

    def _all_updates(self) -> Iterable[dict]:
        return self._history

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- user side -----------------------------------------------------------------------------------------------
    def user(self, user_id: int, first_name: str = "Patient", language_code: str | None = "en") -> FakeUser:
        user = FakeUser(user_id, first_name, language_code)
        self.messages.setdefault(user.id, {})
        return user

    def _user_message(self, user: FakeUser, fields: dict) -> dict:
        message = {"message_id": next(self._message_ids[user.id]), "from": user.as_json(),
                   "chat": user.chat(), "date": int(time.time()), **fields}
        self.messages[user.id][message["message_id"]] = message
        return message

    def text_update(self, user: FakeUser, text: str) -> dict:
        return self._update({"message": self._user_message(user, {"text": text})})

    def command_update(self, user: FakeUser, command: str) -> dict:
        name = command.split()[0]
        return self._update({"message": self._user_message(user, {
            "text": command, "entities": [{"type": "bot_command", "offset": 0, "length": len(name)}]})})

    def photo_update(self, user: FakeUser, data: bytes, *, caption: str | None = None,
                     media_group_id: str | None = None) -> dict:
        fields: dict[str, Any] = {"photo": self._photo_sizes(data)}
        if caption:
            fields["caption"] = caption
        if media_group_id:
            fields["media_group_id"] = media_group_id
        return self._update({"message": self._user_message(user, fields)})

    def document_update(self, user: FakeUser, data: bytes, *, mime_type: str = "image/jpeg",
                        file_name: str = "IMG_0001.jpg", media_group_id: str | None = None) -> dict:
        file_id = self._store_file(data, "documents", file_name.rsplit(".", 1)[-1])
        fields: dict[str, Any] = {"document": {"file_id": file_id, "file_unique_id": "u" + file_id,
                                               "file_name": file_name, "mime_type": mime_type,
                                               "file_size": len(data)}}
        if media_group_id:
            fields["media_group_id"] = media_group_id
        return self._update({"message": self._user_message(user, fields)})

    def sticker_update(self, user: FakeUser) -> dict:
        file_id = self._store_file(b"RIFF....WEBPVP8 ", "stickers", "webp")
        return self._update({"message": self._user_message(user, {"sticker": {
            "file_id": file_id, "file_unique_id": "u" + file_id, "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "emoji": "😀", "set_name": "TestStickers"}})})

    def voice_update(self, user: FakeUser) -> dict:
        file_id = self._store_file(b"OggS", "voice", "oga")
        return self._update({"message": self._user_message(user, {"voice": {
            "file_id": file_id, "file_unique_id": "u" + file_id, "duration": 2, "mime_type": "audio/ogg"}})})

    def location_update(self, user: FakeUser) -> dict:
        return self._update({"message": self._user_message(user, {"location": {"latitude": 31.2304,
                                                                               "longitude": 121.4737}})})

    def press_update(self, user: FakeUser, button: str, *, message_id: int | None = None) -> dict:
        """A tap on the button labelled `button` (or whose callback_data is `button`) of a bot message: the given
        one, else the latest message to this user that has such a button."""
        candidates = ([self.messages[user.id][message_id]] if message_id is not None
                      else list(reversed(self.messages[user.id].values())))
        for message in candidates:
            if message["from"]["id"] != BOT["id"]:
                continue
            for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                for b in row:
                    if button in (b["text"], b.get("callback_data")):
                        return self._update({"callback_query": {
                            "id": str(next(self._callback_ids)), "from": user.as_json(),
                            "message": copy.deepcopy(message),
                            "chat_instance": f"-{user.id}", "data": b["callback_data"]}})
        raise AssertionError(f"no button {button!r} in the bot's messages to {user.first_name}: "
                             f"{[b[0] for b in self.keyboards(user)[-1:] for b in b]}")

    def again(self, update: dict) -> dict:
        """The same message or press once more under a new update_id, as Telegram may deliver it again."""
        return self._update({k: copy.deepcopy(v) for k, v in update.items() if k != "update_id"})

    def _update(self, body: dict) -> dict:
        update = {"update_id": next(self._update_ids), **body}
        self._history.append(update)
        return update

    async def deliver(self, update: dict, *, secret: str | None = None, url: str | None = None) -> int | None:
        """Hands an update to the bot: queued for getUpdates, or POSTed to the webhook (returns the HTTP status).
        `secret` overrides the secret-token header of a webhook POST; `url` sends it to another replica than the
        one registered (as a load balancer would)."""
        self._sent_at.setdefault(update["update_id"], time.monotonic())
        if self.webhook is None and url is None:
            self.updates.append(update)
            await self._notify()
            return None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        token = (self.webhook or {}).get("secret_token") if secret is None else secret
        if token:
            headers[SECRET_HEADER] = token
        async with self._session.post(url or self.webhook["url"], data=json.dumps(update),
                                      headers=headers) as response:
            await response.read()
            self.webhook_statuses.append(response.status)
            if response.status == 200:
                self.delivered.add(update["update_id"])
            return response.status

    async def send_text(self, user: FakeUser, text: str) -> dict:
        return await self._sent(self.text_update(user, text))

    async def send_command(self, user: FakeUser, command: str) -> dict:
        return await self._sent(self.command_update(user, command))

    async def send_photo(self, user: FakeUser, data: bytes, **kwargs: Any) -> dict:
        return await self._sent(self.photo_update(user, data, **kwargs))

    async def send_document(self, user: FakeUser, data: bytes, **kwargs: Any) -> dict:
        return await self._sent(self.document_update(user, data, **kwargs))

    async def send_sticker(self, user: FakeUser) -> dict:
        return await self._sent(self.sticker_update(user))

    async def press(self, user: FakeUser, button: str, **kwargs: Any) -> dict:
        return await self._sent(self.press_update(user, button, **kwargs))

    async def _sent(self, update: dict) -> dict:
        await self.deliver(update)
        return update

    # -- what the bot did ----------------------------------------------------------------------------------------
    def sent(self, user: FakeUser | int, since: int = 0) -> list[Call]:
        """The calls that showed something in this user's chat (messages, photos, edits, chat actions)."""
        chat = user.id if isinstance(user, FakeUser) else user
        return [c for c in self.calls[since:] if c.method in SENDING and c.chat_id == chat
                and not isinstance(c.result, ApiError)]

    def called(self, method: str, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == method]

    def keyboards(self, user: FakeUser) -> list[list[tuple[str, str]]]:
        """The inline keyboards of the bot's messages in this chat, oldest first, as (label, data) rows."""
        return [[(b["text"], b.get("callback_data", "")) for row in m["reply_markup"]["inline_keyboard"]
                 for b in row]
                for m in self.messages[user.id].values() if m["from"]["id"] == BOT["id"] and "reply_markup" in m]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        """Waits until predicate() is truthy (re-checked after every call the bot makes) and returns it."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not (value := predicate()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake Telegram: condition not met within {timeout} s")
                try:
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.25))
                except TimeoutError:
                    pass
            return value

    def transcript(self, user: FakeUser, since: float = 0.0) -> list[str]:
        """The chat as the server saw it from `since` (time.monotonic()): the user's updates and the bot's calls,
        in order, one entry each, texts and buttons but no photo bytes."""
        entries = [(self._sent_at[u["update_id"]], _describe_update(u)) for u in self._history
                   if _update_user(u) == user.id and self._sent_at.get(u["update_id"], -1) >= since]
        entries += [(call.at, _describe_call(call)) for call in self.calls
                    if call.at >= since and (call.chat_id == user.id or (
                        call.method == "answerCallbackQuery" and _query_user(self._history, call) == user.id))]
        return [text for _, text in sorted(entries, key=lambda e: e[0])]


def _describe_update(update: dict) -> str:
    head = f"<- update {update['update_id']} from {_update_user(update)}:"
    if "callback_query" in update:
        query = update["callback_query"]
        label = next((b["text"] for row in query["message"].get("reply_markup", {}).get("inline_keyboard", [])
                      for b in row if b.get("callback_data") == query["data"]), "?")
        return f"{head} button [{label}] (data {query['data']!r})"
    message = update["message"]
    if "text" in message:
        return f"{head} {message['text']}"
    if "photo" in message:
        sizes = message["photo"]
        return f"{head} photo {sizes[-1]['width']}x{sizes[-1]['height']} ({sizes[-1]['file_size']} bytes)" + (
            f", album {message['media_group_id']}" if message.get("media_group_id") else "")
    if "document" in message:
        return f"{head} document {message['document']['mime_type']} ({message['document']['file_size']} bytes)"
    kind = next((k for k in ("sticker", "voice", "location", "video") if k in message), "message")
    return f"{head} {kind}"


def _describe_call(call: Call) -> str:
    head = f"-> {call.method}" + (f" chat {call.chat_id}" if call.chat_id is not None else "")
    if call.method == "sendChatAction":
        return f"{head} {call.params.get('action')}"
    if call.method == "answerCallbackQuery":
        return head
    if call.method in ("sendPhoto", "sendDocument"):
        size = len(next(iter(call.files.values()), b""))
        body = f"[{call.method[4:].lower()}, {size} bytes] {call.text}"
    else:
        body = call.text
        if call.method == "editMessageText":
            head += f" message {call.params.get('message_id')}"
    buttons = call.buttons
    if buttons:
        body += "\n" + "\n".join(f"     [{label}]" for label, _ in buttons)
    indented = body.replace("\n", "\n     ")
    return f"{head}\n     {indented}"


def _update_user(update: dict) -> int | None:
    body = update.get("message") or update.get("callback_query") or {}
    return body.get("from", {}).get("id")


def _query_user(history: list[dict], call: Call) -> int | None:
    for update in history:
        if update.get("callback_query", {}).get("id") == call.params.get("callback_query_id"):
            return _update_user(update)
    return None


def _allowed(update: dict, allowed: list[str] | None) -> bool:
    return not allowed or any(key in update for key in allowed)


def _required(params: dict, name: str) -> Any:
    if params.get(name) in (None, ""):
        raise ApiError(400, f"Bad Request: {name} is empty" if name in params else
                       f"Bad Request: parameter {name} is required")
    return params[name]


def _decode(name: str, value: str) -> Any:
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _parse(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Query string, then the body: application/json, x-www-form-urlencoded or multipart/form-data."""
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        params.update(body)
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if part.filename is not None:
                files[part.name] = bytes(await part.read())
            else:
                params[part.name] = _decode(part.name, await part.text())
        for name, data in files.items():  # a file field named like a parameter is that parameter
            params.setdefault(name, f"attach://{name}")
    elif request.can_read_body:
        form = await request.post()
        params.update({k: _decode(k, v) for k, v in form.items() if isinstance(v, str)})
    return params, files


def _error_response(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    if error.parameters:
        body["parameters"] = error.parameters
    return web.json_response(body, status=error.code)
