"""A WeChat official (service) account as a transport: callback messages in, the engine's replies out.

GET <callback path> is WeChat's URL check (signature -> echostr). A POST is checked by bot.wechat.inbound
(signature, fresh timestamp, no DOCTYPE, AES decryption and msg_signature in safe mode, our account) and becomes
an InboundEvent: text (a number answers the last numbered prompt: "choice"), image (fetched by MediaId, PicUrl
as fallback: "photo"), subscribe ("/start"), menu CLICK (its key is a command), voice/video/location/link
("other"). Unsubscribe marks the patient unreachable (their data stays until they or the retention delete it).

WeChat waits 5 s for the answer and retries a message three times. The engine's replies that are ready within
WECHAT_REPLY_DEADLINE and fit one text leave as the passive reply; anything else (an image, a long text, a turn
slower than the deadline) is sent through the customer-service API, and the HTTP answer is "success". Slow work
never holds the reply past the deadline: the turn hands it to the engine, the passive reply says what the turn said
before it ("Analysing…"), and the engine pushes the work's replies through deliver() when it is done. Work the turn
said nothing before (a photo's check) is waited for until the deadline: its replies then make the passive reply
instead of customer-service messages, which WeChat counts. A patient's next
message waits for that work (bot/lanes.py), so their messages are answered in order. A retry while the first
delivery (its work included) is still being handled is answered "success" at once; one that reaches another
replica is deduplicated by the engine (MsgId, or FromUserName:CreateTime for events), so each message is answered
once.

As a Courier (bot/delivery.py): customer-service messages within 48 hours of the patient's last message;
outside it a reminder becomes a template message (WECHAT_REMINDER_TEMPLATE_ID), anything else is Undeliverable.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from functools import partial

import aiohttp
from aiohttp import web
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from bot.delivery import DeliveryFailed, Purpose, Undeliverable
from bot.lanes import Keep, Lanes
from bot.settings import Settings
from bot.wechat.api import OUTSIDE_WINDOW, TOO_MANY_MESSAGES, UNSUBSCRIBED, WeChatAPI, WeChatError
from bot.wechat.inbound import MAX_BODY, CallbackGuard, Refused
from conversations import Engine, InboundEvent
from conversations.i18n import resolve_locale, t
from conversations.messages import LABELLED_OPTIONS_HINT, NUMBERED_OPTIONS_HINT, Choices, Image, Outgoing, Text
from storage import User
from storage.columns import utcnow
from work.tasks import Tasks

log = logging.getLogger(__name__)

CHANNEL = "wechat"
LOCALE = "zh"  # WeChat patients read Simplified Chinese unless they choose otherwise
TEXT_LIMIT = 2000  # bytes of UTF-8 in one passive or customer-service text (WeChat: 2048)
WINDOW = timedelta(hours=48)  # customer-service messages are allowed this long after the patient's last message
SUCCESS = "success"  # "received, no reply": WeChat then neither retries nor tells the patient of a failure
MENU = (("checkin", "menu.checkin"), ("history", "menu.history"), ("remind", "menu.reminders"))  # CLICK key, label
MESSAGE_KINDS = {"voice": "other", "video": "other", "shortvideo": "other", "location": "other", "link": "other"}
TEMPLATE_CHARS = 200  # a template field shows a short text
# The first of the stored options of a prompt that takes a typed number (an age): (data, label) pairs follow,
# and the patient answers with a label, since a number they type is their answer. Choice data never equals it.
TYPED = "typed"
STOP_WAIT = 60.0  # seconds the turns, work and pushes still in hand may take at shutdown


class WeChatTransport:
    channel = CHANNEL

    def __init__(self, settings: Settings, engine: Engine, api: WeChatAPI | None = None):
        self.settings = settings
        self.engine = engine
        self.db = engine.db
        self.api = api or WeChatAPI(settings, engine.db.cache)
        self.guard = CallbackGuard(settings.reveal("wechat_token"), settings.wechat_app_id,
                                   settings.reveal("wechat_aes_key"), settings.wechat_account_id)
        self.deadline = settings.wechat_reply_deadline
        self._in_flight: set[str] = set()
        self.lanes = Lanes()  # by openid
        self._background = Tasks("WeChat push")  # pushes of replies that missed the passive reply
        self._awaiting: dict[str, Exchange] = {}  # openid -> the exchange whose passive reply waits for its work

    @property
    def mode(self) -> str:
        return "safe" if self.guard.crypto is not None else "plain"

    async def start(self) -> None:
        await self.api.start()

    async def stop(self) -> None:
        """Lets the turns, work and pushes in hand finish (results being sent), then closes the HTTP session."""
        with contextlib.suppress(TimeoutError):
            await self.settled(STOP_WAIT)
        await self.api.close()

    async def settled(self, timeout: float | None = None) -> None:
        """Returns once every message has been answered: its turn, the work it left and their pushes are done."""
        async with asyncio.timeout(timeout):
            while running := {*self._background, *self.lanes.pending()}:
                await asyncio.wait(running)

    # -- the callback ------------------------------------------------------------------------------------------
    async def verify(self, request: web.Request) -> web.Response:
        """GET: WeChat checks that the URL is ours; we check that the request is WeChat's."""
        try:
            self.guard.signed(request.query)
        except Refused as refused:
            return _refuse(request, refused)
        return web.Response(text=request.query.get("echostr", ""))

    async def callback(self, request: web.Request) -> web.Response:
        try:
            if (request.content_length or 0) > MAX_BODY:
                raise Refused(400, "body too large")
            message = self.guard.message(request.query, await request.read())
        except Refused as refused:
            return _refuse(request, refused)
        key = message_key(message)
        if key in self._in_flight:  # WeChat's retry of a message still being handled here
            return web.Response(text=SUCCESS)
        self._in_flight.add(key)
        exchange = Exchange(self, message.source)
        turn = asyncio.create_task(self.lanes.run(message.source, partial(self._handle, message, key, exchange),
                                                  ended=lambda: self._in_flight.discard(key)))
        text = await self._answer(turn, exchange, key)
        if not text:
            return web.Response(text=SUCCESS)
        reply = TextReply(message=message, content=text).render()
        return web.Response(text=self.guard.reply(reply, request.query), content_type="application/xml")

    async def _answer(self, turn: asyncio.Task, exchange: Exchange, key: str) -> str | None:
        """The passive reply's text, or None ("success") when the replies go, or went, the other way."""
        deadline = asyncio.get_running_loop().time() + self.deadline
        done, _ = await asyncio.wait({turn}, timeout=self.deadline)
        if done:
            try:
                said = exchange.take() + turn.result()
            except Exception as error:  # answered "success"; the engine's dedup mark was rolled back
                log.error("WeChat message %s failed: %s", key, type(error).__name__, exc_info=error)
                return None
            if exchange.work and not said:
                await self._await_work(exchange, deadline)
            replies = said + exchange.take_worked()
            passive = passive_text(replies, exchange.locale)
            if passive is None:
                self._background.start(self.push(exchange.openid, replies, exchange.locale))
            return passive
        # Too slow for the passive reply (behind the patient's running work, say): what is ready may still go
        # passively, the rest is pushed.
        passive = exchange.too_late()
        self._background.start(exchange.finish(turn, key))
        return passive

    async def _await_work(self, exchange: Exchange, deadline: float) -> None:
        """Until the turn's work has pushed its replies (to the exchange, see deliver) or the deadline."""
        if exchange.openid in self._awaiting:  # (the lane runs one message of a patient at a time)
            return
        self._awaiting[exchange.openid] = exchange
        try:
            await asyncio.wait(exchange.work, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        finally:
            del self._awaiting[exchange.openid]

    async def _handle(self, message: BaseMessage, key: str, exchange: Exchange, keep: Keep) -> list[Outgoing]:
        """The message through the engine (photo download included, so the deadline covers it); slow work goes on
        after the turn (`keep`), and the engine pushes its replies."""
        openid = message.source
        user = await self.db.users.find_user(CHANNEL, openid)
        if user is not None:
            exchange.locale = resolve_locale(user.locale or LOCALE)
        if message.type == "event" and message.event == "unsubscribe":
            await self._unsubscribed(openid)
            return []
        event = await self._event(message, key, user)
        if event is None:
            return []
        if user is not None:  # before the turn: the 48-hour window must be open when its work's replies are pushed
            await self.db.contacts.record_inbound(user.id)

        def kept(work: asyncio.Task) -> None:
            exchange.work.append(work)
            keep(work)

        replies = await self.engine.handle(event, on_progress=exchange.progress, detached=kept)
        known, user = user is not None, await self.db.users.find_user(CHANNEL, openid)
        if user is not None:  # None: the patient erased their data in this turn
            exchange.locale = resolve_locale(user.locale or LOCALE)
            if not known:
                await self.db.contacts.record_inbound(user.id)
            await self._remember_prompt(user.id, [*exchange.seen, *replies])
        return replies

    async def _remember_prompt(self, user_id: int, messages: Sequence[Outgoing]) -> None:
        """The last numbered prompt's option data, so that the number the patient answers maps back to it."""
        prompts = [m for m in messages if isinstance(m, Choices)]
        if prompts:
            prompt = prompts[-1]
            await self.db.contacts.set_prompt_options(user_id, [TYPED, *(part for option in prompt.options
                                                                          for part in option)]
                                                      if prompt.typed else [data for data, _ in prompt.options])

    async def _event(self, message: BaseMessage, key: str, user: User | None) -> InboundEvent | None:
        """The message as the engine's event; None for events that need no answer (VIEW, template receipts)."""
        make = lambda kind, payload="", **fields: InboundEvent(  # noqa: E731
            CHANNEL, message.source, key, kind, payload, locale_hint=LOCALE, **fields)
        if message.type == "text":
            return make(*await self._text_or_choice(user, message.content or ""))
        if message.type == "image":
            photo = await self._fetch_photo(message, key)
            return make("photo", photo=photo) if photo else make("other")
        if message.type == "event":
            if message.event in ("subscribe", "subscribe_scan"):  # reachable again: _handle records it
                return make("command", "/start")
            if message.event == "click":
                command = next((name for name, _ in MENU if name == message.key), None)
                # a key of an older menu (still cached in the patient's app): "unknown command" and the prompt again
                return make("command", f"/{command or 'stale-menu-key'}")
            return None
        return make(MESSAGE_KINDS.get(message.type, "other"))

    async def _text_or_choice(self, user: User | None, text: str) -> tuple[str, str]:
        """A number answers the last numbered prompt (its options live in the database, for every replica); after
        a prompt that takes a typed number, a number is the answer and an option is chosen by its label."""
        if user is None:
            return "text", text
        options = (await self.db.contacts.get_contact(user.id)).prompt_options
        if options[:1] == (TYPED,):
            labels = {label.casefold(): data for data, label in zip(options[1::2], options[2::2])}
            found = labels.get(text.strip().casefold())
            return ("choice", found) if found else ("text", text)
        stripped = text.strip().rstrip(".")
        if stripped.isdigit() and 1 <= int(stripped) <= len(options):
            return "choice", options[int(stripped) - 1]
        return "text", text

    async def _fetch_photo(self, message: BaseMessage, key: str) -> bytes | None:
        for what, fetch in (("MediaId", lambda: self.api.get_media(message.media_id)),
                            ("PicUrl", lambda: self.api.download(message.image))):
            if not (message.media_id if what == "MediaId" else message.image):
                continue
            try:
                return await fetch()
            except (WeChatError, aiohttp.ClientError, asyncio.TimeoutError) as error:
                log.warning("WeChat message %s: image by %s failed (%s)", key, what, type(error).__name__)
        return None

    async def _unsubscribed(self, openid: str) -> None:
        """The data stays (deletion is the patient's choice, or the retention's); nothing is sent any more."""
        user = await self.db.users.find_user(CHANNEL, openid)
        if user is not None:
            await self.db.contacts.mark_unreachable(user.id)
        log.info("WeChat: a patient unsubscribed")

    # -- sending -----------------------------------------------------------------------------------------------
    async def push(self, openid: str, messages: Sequence[Outgoing], locale: str = LOCALE) -> bool:
        """Customer-service messages, in order; False (logged) when WeChat refuses (window, quota, unsubscribed)."""
        try:
            await self._send(openid, messages, locale)
            return True
        except (WeChatError, aiohttp.ClientError, asyncio.TimeoutError) as error:
            log.warning("WeChat: push not delivered (%s)", _describe(error))
            if isinstance(error, WeChatError) and error.code == UNSUBSCRIBED:
                await self._unsubscribed(openid)
            return False

    async def _send(self, openid: str, messages: Sequence[Outgoing], locale: str) -> None:
        for item in packed(messages, locale):
            if isinstance(item, Image):
                media_id = await self.api.upload_image(item.data, item.filename, item.mime_type)
                await self.api.send_image(openid, media_id)
            else:
                await self.api.send_text(openid, item)

    async def deliver(self, platform_user_id: str, messages: Sequence[Outgoing], *, purpose: Purpose) -> None:
        """The Courier contract (bot/delivery.py)."""
        user = await self.db.users.find_user(CHANNEL, platform_user_id)
        if user is None:
            raise Undeliverable("no such WeChat patient")
        exchange = self._awaiting.get(platform_user_id) if purpose == "result" else None
        if exchange is not None and exchange.keep_for_passive_reply(messages):
            return await self._remember_prompt(user.id, messages)
        contact = await self.db.contacts.get_contact(user.id)
        if contact.unreachable_at is not None:
            raise Undeliverable("the patient unsubscribed")
        locale = resolve_locale(user.locale or LOCALE)
        last = contact.last_inbound_at
        if last is not None and utcnow() - last < WINDOW:
            try:
                await self._delivering(platform_user_id, self._send(platform_user_id, messages, locale))
                return await self._remember_prompt(user.id, messages)
            except (Undeliverable, DeliveryFailed) as error:  # a reminder may still go as a template
                if purpose != "reminder" or getattr(error.__cause__, "code", None) not in (OUTSIDE_WINDOW,
                                                                                            TOO_MANY_MESSAGES):
                    raise
        template = self.settings.wechat_reminder_template_id
        if purpose != "reminder" or not template:
            raise Undeliverable("outside WeChat's 48-hour window" + ("" if purpose != "reminder" else
                                                                     " and no reminder template set"))
        await self._delivering(platform_user_id,
                               self.api.send_template(platform_user_id, template, {"content": template_text(messages)}))

    async def _delivering(self, openid: str, sending: Awaitable[None]) -> None:
        """A send for deliver(), WeChat's refusals turned into the Courier's two exceptions."""
        try:
            await sending
        except WeChatError as error:
            if error.code == UNSUBSCRIBED:
                await self._unsubscribed(openid)
                raise Undeliverable("the patient unsubscribed") from error
            raise (Undeliverable if error.code == OUTSIDE_WINDOW else DeliveryFailed)(_describe(error)) from error
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise DeliveryFailed(_describe(error)) from error


class Exchange:
    """One inbound message's replies: kept for the passive reply until the deadline, then pushed as they come, in
    order. A turn awaits its progress messages, so those pushed go before the work it then hands to the engine."""

    def __init__(self, transport: WeChatTransport, openid: str):
        self.transport = transport
        self.openid = openid
        self.locale = LOCALE  # the patient's, once the turn has loaded them
        self.seen: list[Outgoing] = []  # every progress message, for the numbered-prompt mapping
        self._waiting: list[Outgoing] = []  # for the passive reply; after the deadline, for the next push
        self.work: list[asyncio.Task] = []  # the slow work the turn left to the engine
        self._worked: list[Outgoing] = []  # what that work pushed while the passive reply waited for it
        self._late = False
        self._delivering = True  # False once WeChat refused a push: the rest is not tried

    async def progress(self, messages: list[Outgoing]) -> None:
        self.seen.extend(messages)
        self._waiting.extend(messages)
        if self._late:
            await self._push()

    def take(self) -> list[Outgoing]:
        taken, self._waiting = self._waiting, []
        return taken

    def keep_for_passive_reply(self, messages: Sequence[Outgoing]) -> bool:
        """The turn's work pushed these before the deadline: they go after the turn's replies. False once late."""
        if self._late:
            return False
        self._worked.extend(messages)
        return True

    def take_worked(self) -> list[Outgoing]:
        taken, self._worked = self._worked, []
        return taken

    def too_late(self) -> str | None:
        """Past the deadline: the passive reply's text when what is ready fits one; the rest is pushed from now on."""
        self._late = True
        passive = passive_text(self._waiting, self.locale) if self._waiting else None
        if passive is not None:
            self._waiting = []
        return passive

    async def finish(self, turn: asyncio.Task, key: str) -> None:
        """Pushes the turn's replies when it ends, after anything still waiting."""
        try:
            self._waiting.extend(await turn)
        except Exception as error:
            log.error("WeChat message %s failed: %s", key, type(error).__name__, exc_info=error)
        await self._push()

    async def _push(self) -> None:
        messages, self._waiting = self._waiting, []
        if self._delivering and messages:
            self._delivering = await self.transport.push(self.openid, messages, self.locale)


# -- rendering ---------------------------------------------------------------------------------------------------
def render_text(message: Text | Choices, locale: str) -> str:
    """A text, or a prompt with its options numbered ("1. …"): the patient answers with the number; a prompt that
    takes a typed number names its options instead, to be answered by name."""
    if isinstance(message, Text):
        return message.text
    if message.typed:
        labels = " / ".join(f"“{label}”" for _, label in message.options)
        return "\n".join([message.text, "", t(locale, LABELLED_OPTIONS_HINT, labels=labels)])
    lines = [f"{n}. {label}" for n, (_, label) in enumerate(message.options, 1)]
    return "\n".join([message.text, "", *lines, t(locale, NUMBERED_OPTIONS_HINT)])


def passive_text(messages: Sequence[Outgoing], locale: str) -> str | None:
    """The replies as one passive text, or None when they cannot be one (an image, too long). "" for none."""
    if any(isinstance(m, Image) for m in messages):
        return None
    text = "\n\n".join(render_text(m, locale) for m in messages if isinstance(m, (Text, Choices)))
    return text if len(text.encode()) <= TEXT_LIMIT else None


def packed(messages: Sequence[Outgoing], locale: str) -> list[str | Image]:
    """What to send, in order: images (WeChat images have no caption: the caption goes as the text before its
    image, so a result reads as one text and then its picture), and texts packed into as few messages as the
    size limit allows (WeChat counts customer-service messages: 45047 after too many since the patient's last
    message)."""
    items: list[str | Image] = []
    for message in messages:
        if isinstance(message, Image):
            texts = [message.caption] if message.caption else []
        else:
            texts = [render_text(message, locale)] if isinstance(message, (Text, Choices)) else []
        for text in texts:
            last = items[-1] if items and isinstance(items[-1], str) else None
            joined = f"{last}\n\n{text}" if last is not None else text
            if last is not None and len(joined.encode()) <= TEXT_LIMIT:
                items[-1] = joined
            else:
                items.extend(split_text(text))
        if isinstance(message, Image):
            items.append(message)
    return items


def template_text(messages: Sequence[Outgoing]) -> str:
    """A template message's content: the texts (a prompt's options cannot be answered from a template)."""
    texts = [m.text for m in messages if isinstance(m, Text)] or [m.text for m in messages if isinstance(m, Choices)]
    text = "\n".join(texts)
    return text if len(text) <= TEMPLATE_CHARS else text[:TEMPLATE_CHARS - 1] + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """A text cut into parts of at most `limit` UTF-8 bytes, at line breaks where possible."""
    parts: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode(errors="ignore"))  # characters that fit
        line = text.rfind("\n", 0, cut)
        cut = line if line > 0 else cut
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text] if text or not parts else parts


def message_key(message: BaseMessage) -> str:
    """The same on each of WeChat's retries: MsgId, or sender and time for events (which have none; the event's
    name and key keep two different ones of the same second apart, e.g. two menu items tapped quickly)."""
    if message.type == "event" or not message.id:
        return f"{message.source}:{message.time}:{getattr(message, 'event', '')}:{getattr(message, 'key', '')}"
    return str(message.id)


def menu_definition(locale: str = LOCALE) -> dict:
    return {"button": [{"type": "click", "name": t(locale, label), "key": key} for key, label in MENU]}


async def install_menu(settings: Settings, locale: str = LOCALE) -> dict:
    """`acnebot wechat-menu`: the custom menu, whose CLICK keys the callback turns into commands."""
    from storage import Database

    menu = menu_definition(locale)
    async with await Database.open(settings.reveal("database_url"), data_dir=settings.data_dir,
                                   photo_key=settings.reveal("photo_key")) as db, WeChatAPI(settings, db.cache) as api:
        await api.create_menu(menu)
    return menu


def _refuse(request: web.Request, refused: Refused) -> web.Response:
    log.warning("WeChat callback refused from %s: %s", request.remote, refused.reason)
    return web.Response(status=refused.status, text="refused")


def _describe(error: BaseException) -> str:
    return str(error) if isinstance(error, WeChatError) else type(error).__name__
