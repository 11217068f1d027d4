"""Telegram, through python-telegram-bot, as a transport only: updates in, the engine's replies out.

A message or button press becomes an InboundEvent: a command (one with a bot_command entity), text, a button
press ("choice", answered at once so the button stops spinning), a photo (its largest size downloaded), a
photo sent as a file (image/*), or anything else ("other": stickers, voice, locations...). The engine's replies
are rendered by type name: Text -> sendMessage, Choices -> an inline keyboard (editMessageText when the prompt
replaces the one just pressed), Image -> sendPhoto, File -> sendDocument, Typing -> sendChatAction, repeated
while the work goes on.
Long polling by default (one replica: Telegram serves getUpdates to one poller); webhook mode
(TELEGRAM_WEBHOOK_URL) takes updates POSTed to our aiohttp route, checks the secret-token header and answers once
the update is handled, so a failure is redelivered by Telegram and any replica behind a load balancer can take
any update (the engine deduplicates and locks per patient; the replicas share TELEGRAM_WEBHOOK_SECRET).
One patient's updates are handled in order, different patients' concurrently (PerUserUpdateProcessor).
Nothing here logs message texts, photos, or URLs (file URLs contain the bot token).
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from telegram import (BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update)
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (Application, ApplicationBuilder, BaseUpdateProcessor, CallbackQueryHandler,
                          CommandHandler, ContextTypes, MessageHandler, filters)

from bot.delivery import DeliveryFailed, Purpose, Undeliverable
from bot.telegram.http import AiohttpRequest
from bot.lanes import Keep, Lanes
from bot.settings import Settings
from conversations import COMMAND_MENU, Engine, InboundEvent, command_descriptions
from conversations.flows import COMMANDS
from conversations.messages import Choices, File, Image, Outgoing, Text

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMAND_LOCALES = {"": "en", "zh": "zh"}  # set_my_commands language_code -> our locale ("" = everyone else)
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API's getFile limit
POLL_TIMEOUT = 30  # seconds a getUpdates long poll waits
CONCURRENT_UPDATES = 16  # updates handled at once, over all patients
CONCURRENT_PHOTOS = 4  # photo updates handled at once (their downloads), apart from the rest
ATTEMPTS = 4  # per outbound call: flood control (429) and timeouts are retried
MAX_RETRY_WAIT = 60.0  # seconds; a longer retry_after gives up
ACTION_REFRESH = 4.5  # seconds: Telegram shows a chat action for 5 s
CONNECT_TIMEOUT = 10.0  # seconds to connect to the Bot API, or to wait for a free pooled connection

PRIVATE = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Different users' updates concurrently (at most `max_concurrent` at once), one user's one at a time and in
    the order they arrived (bot/lanes.py). A user's waiting updates hold no slot, so one busy patient never stalls
    the others; nor does a patient whose turn handed its slow work to the engine (`keep_behind`): their next
    update waits for that work, without a slot. An update is processed once its turn has answered (a webhook's
    POST is answered then); the slow work goes on, durable in the work table."""

    def __init__(self, max_concurrent: int = CONCURRENT_UPDATES):
        super().__init__(max_concurrent_updates=10_000)  # the base class's bound; ours is self._slots
        self._slots = asyncio.BoundedSemaphore(max_concurrent)
        # A burst of photos (their downloads and checks) takes slots of its own, so texts and buttons never
        # queue behind it (bench/bench_turns_under_load.py).
        self._photo_slots = asyncio.BoundedSemaphore(min(max_concurrent, CONCURRENT_PHOTOS))
        self._lanes = Lanes()
        self._keeps: dict[int, Keep] = {}  # an update id -> where its turn hands the slow work it leaves running
        self.on_done: list[Callable[[object], None]] = []  # after each update and its slow work (tests, benches)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _user_key(update)
        if key is None:
            try:
                async with self._slots:
                    await coroutine
            finally:
                self._done(update)
            return
        slots = self._photo_slots if _carries_photo(update) else self._slots
        update_id = _update_id(update)

        async def turn(keep: Keep) -> None:
            self._keeps[update_id] = keep
            try:
                async with slots:
                    await coroutine
            finally:
                self._keeps.pop(update_id, None)

        await self._lanes.run(str(key), turn, ended=lambda: self._done(update))

    def _done(self, update: object) -> None:
        for hook in self.on_done:
            hook(update)

    def keep_behind(self, update: object) -> Keep:
        """What the engine calls with the task finishing this update's slow work (the patient's lane waits for it)."""
        return self._keeps.get(_update_id(update)) or (lambda task: None)

    async def initialize(self) -> None:
        pass

    async def settle(self) -> None:
        """Waits for the updates in hand and the slow work they left running (its results pushed)."""
        while pending := self._lanes.pending():
            await asyncio.wait(pending)

    async def shutdown(self) -> None:
        await self.settle()


class TelegramTransport:
    channel = CHANNEL  # a Courier (bot/delivery.py): reminders are pushed through deliver()

    def __init__(self, settings: Settings, engine: Engine, *, max_concurrent: int = CONCURRENT_UPDATES):
        self.settings = settings
        self.engine = engine
        self.webhook_secret = settings.webhook_secret() if settings.webhook_mode else None
        self.processor = PerUserUpdateProcessor(max_concurrent)
        builder = (ApplicationBuilder()
                   .token(settings.reveal("telegram_bot_token"))
                   .base_url(settings.telegram_base_url)
                   .base_file_url(settings.telegram_base_file_url)
                   .concurrent_updates(self.processor)
                   .request(AiohttpRequest(connect_timeout=CONNECT_TIMEOUT, read_timeout=settings.telegram_timeout,
                                           write_timeout=settings.telegram_timeout,
                                           media_write_timeout=3 * settings.telegram_timeout,
                                           pool_timeout=CONNECT_TIMEOUT))
                   .get_updates_request(AiohttpRequest(pool_size=1, connect_timeout=CONNECT_TIMEOUT,
                                                       read_timeout=POLL_TIMEOUT + 10, pool_timeout=CONNECT_TIMEOUT)))
        if settings.webhook_mode:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self._failed: set[int] = set()  # webhook updates whose handling raised: answered 500, redelivered
        self._add_handlers()

    @property
    def mode(self) -> str:
        return "webhook" if self.settings.webhook_mode else "polling"

    def _add_handlers(self) -> None:
        add = self.application.add_handler
        add(CommandHandler(list(COMMANDS), self.command, filters=PRIVATE))
        add(MessageHandler(PRIVATE & filters.COMMAND, self.command))  # commands the engine does not know
        add(CallbackQueryHandler(self.choice))
        add(MessageHandler(PRIVATE & filters.PHOTO, self.photo))
        add(MessageHandler(PRIVATE & filters.Document.IMAGE, self.photo_file))
        add(MessageHandler(PRIVATE & filters.TEXT, self.text))
        add(MessageHandler(PRIVATE, self.other))
        self.application.add_error_handler(self.error)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self, *, receive: bool = True) -> None:
        """Checks the token (getMe), registers the command menus, then polls or sets the webhook. receive=False
        (`acnebot worker`): only sends, as the courier of the results it finishes."""
        app = self.application
        await app.initialize()
        if not receive:
            return
        await self._register_commands()
        if self.settings.webhook_mode:
            await call_api(lambda: app.bot.set_webhook(self.settings.telegram_webhook_url,
                                                       secret_token=self.webhook_secret,
                                                       allowed_updates=ALLOWED_UPDATES), "setWebhook")
        else:
            await app.updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                                            bootstrap_retries=-1)
        await app.start()
        log.info("Telegram: @%s, %s", app.bot.username, "webhook at " + self.settings.webhook_path
                 if self.settings.webhook_mode else "long polling")

    async def stop(self) -> None:
        """Stops taking updates, lets the ones being handled finish, closes the connections. The webhook stays
        set: the other replicas still serve it."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        # PTB's shutdown closes the HTTP client before it waits for the update processor: the work the updates in
        # hand left running, and the pushing of its results, must end first.
        await self.processor.settle()
        await app.shutdown()

    async def _register_commands(self) -> None:
        for language, locale in COMMAND_LOCALES.items():
            commands = [BotCommand(name, description) for name, description in command_descriptions(locale)
                        if name in COMMAND_MENU]
            try:
                await call_api(lambda: self.application.bot.set_my_commands(commands, language_code=language or None),
                               "setMyCommands")
            except TelegramError as error:  # the menu is a convenience; the bot works without it
                log.warning("Telegram: could not register the %s command menu: %s", locale, type(error).__name__)

    # -- pushes (Courier) ----------------------------------------------------------------------------------------------
    async def deliver(self, platform_user_id: str, messages: Sequence[Outgoing], *, purpose: Purpose) -> None:
        """Sends to a private chat outside a reply. Blocked (403) or gone -> Undeliverable; network, 5xx, flood
        control -> DeliveryFailed. A reminder is tried once (its dispatcher retries on its own schedule); other
        pushes (results, staff replies, exports) get call_api's retries first."""
        try:
            chat_id = int(platform_user_id)
        except ValueError:
            raise Undeliverable(f"not a Telegram user id: {platform_user_id!r}") from None
        try:
            await Reply(self.application, chat_id, attempts=1 if purpose == "reminder" else ATTEMPTS).render(messages)
        except Forbidden as error:  # "bot was blocked by the user", "user is deactivated"
            raise Undeliverable(f"Forbidden: {error.message}") from error
        except BadRequest as error:
            if "chat not found" in error.message.lower():
                raise Undeliverable(f"BadRequest: {error.message}") from error
            raise DeliveryFailed(f"BadRequest: {error.message}") from error
        except TelegramError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error.message}") from error

    # -- webhook -----------------------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        """POST /telegram/...: one update from Telegram, answered once its turn has answered (slow work it asked
        for goes on and its result is pushed), 500 when the turn failed, so Telegram delivers it again."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), (self.webhook_secret or "").encode()):
            return web.json_response({"ok": False, "error": "forbidden"}, status=403)
        if not self.application.running:
            return web.json_response({"ok": False, "error": "starting or stopping"}, status=503)
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except (ValueError, TypeError, KeyError):
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        await self.processor.process_update(update, self.application.process_update(update))
        if update.update_id in self._failed:
            self._failed.discard(update.update_id)
            return web.json_response({"ok": False, "error": "failed; deliver again"}, status=500)
        return web.json_response({"ok": True})

    # -- one small function per kind of update ---------------------------------------------------------------
    async def command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._turn(update, "command", update.message.text)

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._turn(update, "text", update.message.text)

    async def choice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        with contextlib.suppress(BadRequest):  # too old to answer: the press still counts
            await call_api(query.answer, "answerCallbackQuery")
        if query.data is None or query.message is None:  # a game button, or a message too old to have one
            return
        await self._turn(update, "choice", query.data, pressed=query.message.message_id)

    async def photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        largest = max(message.photo, key=lambda size: size.width * size.height)
        await self._photo_turn(update, largest.file_id, largest.file_size, as_document=False)

    async def photo_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        document = update.message.document
        await self._photo_turn(update, document.file_id, document.file_size, as_document=True)

    async def other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._turn(update, "other")

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("Telegram update %s failed: %s", update_id, type(context.error).__name__, exc_info=context.error)
        if update_id is not None and self.settings.webhook_mode:
            self._failed.add(update_id)

    # -- the turn ----------------------------------------------------------------------------------------------
    async def _photo_turn(self, update: Update, file_id: str, size: int | None, *, as_document: bool) -> None:
        message = update.message
        try:
            if size is not None and size > MAX_DOWNLOAD:
                raise BadRequest("File is too big")
            file = await call_api(lambda: self.application.bot.get_file(file_id), "getFile")
            data = bytes(await call_api(file.download_as_bytearray, "file download"))
        except BadRequest as error:  # too big for the Bot API, or gone: the engine says what it can take
            log.info("Telegram update %s: photo not downloadable (%s)", update.update_id, type(error).__name__)
            too_large = "too big" in str(error).lower()
            return await self._turn(update, "other", "too_large" if too_large else "")
        await self._turn(update, "photo", photo=data, photo_as_document=as_document,
                         media_group=message.media_group_id)

    async def _turn(self, update: Update, kind: str, payload: str | None = "", *, pressed: int | None = None,
                    **fields: Any) -> None:
        user, chat = update.effective_user, update.effective_chat
        event = InboundEvent(CHANNEL, str(user.id), message_key(update), kind, payload or "",
                             locale_hint=user.language_code, **fields)
        log.debug("Telegram update %s: %s", update.update_id, kind)
        reply = Reply(self.application, chat.id, pressed)
        try:
            messages = await self.engine.handle(event, on_progress=reply.progress,
                                                detached=self.processor.keep_behind(update))
            reply.stop_action()
            await reply.render(messages)
        except Forbidden:  # the patient blocked the bot: nothing more can reach them
            log.info("Telegram chat %s: bot blocked; reply dropped", chat.id)
        finally:
            reply.stop_action()


class Reply:
    """Renders the engine's messages into one chat, by type name (a table lookup, not an if-chain)."""

    def __init__(self, application: Application, chat_id: int, pressed: int | None = None, *,
                 attempts: int = ATTEMPTS):
        self.bot = application.bot
        self.chat_id = chat_id
        self.pressed = pressed  # the message whose button was pressed: a Choices with edit replaces it
        self.attempts = attempts  # per Bot API call; 1 for pushes, whose sender retries on its own schedule
        self._action: asyncio.Task | None = None

    async def render(self, messages: Sequence[Outgoing]) -> None:
        for index, message in enumerate(messages):
            await RENDERERS[message.type](self, message, messages[index + 1:])

    async def progress(self, messages: Sequence[Outgoing]) -> None:
        """Messages sent while the work goes on ("analysing…", a place in line): one that cannot be delivered
        must not stop the assessment, whose result is sent afterwards."""
        try:
            await self.render(messages)
        except TelegramError as error:
            log.warning("Telegram chat %s: progress message not delivered (%s)", self.chat_id, type(error).__name__)

    async def text(self, message: Text, following: Sequence[Outgoing]) -> None:
        for part in split_text(message.text):
            await call_api(lambda: self.bot.send_message(self.chat_id, part), "sendMessage", self.attempts)

    async def choices(self, message: Choices, following: Sequence[Outgoing]) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]
                                         for data, label in message.options])
        *before, last = split_text(message.text)
        for part in before:
            await call_api(lambda: self.bot.send_message(self.chat_id, part), "sendMessage", self.attempts)
        if message.edit and self.pressed is not None and not before:
            pressed, self.pressed = self.pressed, None  # one edit per press
            try:
                await call_api(lambda: self.bot.edit_message_text(last, self.chat_id, pressed,
                                                                  reply_markup=keyboard), "editMessageText")
                return
            except BadRequest as error:
                if "not modified" in str(error).lower():
                    return
                log.info("Telegram chat %s: edit refused (%s); sending instead", self.chat_id, error.message)
        await call_api(lambda: self.bot.send_message(self.chat_id, last, reply_markup=keyboard), "sendMessage",
                       self.attempts)

    async def image(self, message: Image, following: Sequence[Outgoing]) -> None:
        upload = InputFile(message.data, filename=message.filename)
        await self._upload(lambda caption: self.bot.send_photo(self.chat_id, upload, caption=caption), "sendPhoto",
                           message.caption, following)

    async def file(self, message: File, following: Sequence[Outgoing]) -> None:
        upload = InputFile(message.data, filename=message.name)
        await self._upload(lambda caption: self.bot.send_document(self.chat_id, upload, caption=caption),
                           "sendDocument", message.caption, following)

    async def _upload(self, send: Callable[[str | None], Awaitable[Any]], what: str, caption: str,
                      following: Sequence[Outgoing]) -> None:
        """A photo or file with its caption; a caption too long for one goes in a message after it."""
        fits = caption if len(caption) <= MessageLimit.CAPTION_LENGTH else ""
        await call_api(lambda: send(fits or None), what, self.attempts)
        if caption and not fits:
            await self.text(Text(caption), following)

    async def typing(self, message: Outgoing, following: Sequence[Outgoing]) -> None:
        """"Working on it", kept up (Telegram shows an action for 5 s) until the turn's replies are sent."""
        action = ChatAction.UPLOAD_PHOTO if any(isinstance(m, Image) for m in following) else ChatAction.TYPING
        self.stop_action()
        await call_api(lambda: self.bot.send_chat_action(self.chat_id, action), "sendChatAction", self.attempts)
        self._action = asyncio.create_task(self._keep_action(action))

    async def _keep_action(self, action: str) -> None:
        while True:
            await asyncio.sleep(ACTION_REFRESH)
            try:
                await self.bot.send_chat_action(self.chat_id, action)
            except TelegramError:
                return

    def stop_action(self) -> None:
        if self._action is not None:
            self._action.cancel()
            self._action = None


RENDERERS: dict[str, Callable[[Reply, Any, Sequence[Outgoing]], Awaitable[None]]] = {
    "text": Reply.text,
    "choices": Reply.choices,
    "image": Reply.image,
    "file": Reply.file,
    "typing": Reply.typing,
}


# -- helpers ---------------------------------------------------------------------------------------------------
def message_key(update: Update) -> str:
    """The platform's id of what the patient did, the same on every delivery of it: chat and message id, or
    the callback query's id (update ids are not: a re-sent update may carry a new one)."""
    if update.callback_query is not None:
        return f"cb:{update.callback_query.id}"
    message: Message = update.effective_message
    return f"{message.chat_id}:{message.message_id}"


def _carries_photo(update: object) -> bool:
    message = update.message if isinstance(update, Update) else None
    return message is not None and bool(message.photo or message.document)


def _update_id(update: object) -> int | None:
    return update.update_id if isinstance(update, Update) else None


def _user_key(update: object) -> int | None:
    if isinstance(update, Update):
        user = update.effective_user
        if user is not None:
            return user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """A text cut into messages Telegram accepts, at line breaks where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text]


async def call_api(call: Callable[[], Awaitable[T]], what: str, attempts: int = ATTEMPTS) -> T:
    """One Bot API call; flood control (429 retry_after) and timeouts or dropped connections are retried."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except RetryAfter as error:
            failure, delay = error, _seconds(error)
            problem = f"flood control, retry after {delay:g} s"
        except BadRequest:
            raise
        except NetworkError as error:  # TimedOut included
            failure, delay = error, 0.5 * 2 ** (attempt - 1)
            problem = type(error).__name__
        if attempt == attempts or delay > MAX_RETRY_WAIT:
            raise failure  # (a bare raise here, after the except block, has no exception to re-raise)
        log.warning("Telegram %s: %s (attempt %d of %d)", what, problem, attempt, attempts)
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # int vs timedelta: v22 deprecates the int form
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# -- pushes outside a reply (extras branch) -----------------------------------------------------------------------
# A minimal Courier (bot/delivery.py) for staff replies during a handover. The reminders branch gives
# TelegramTransport a deliver() of its own; once both are merged, callers can use that and this can go.
