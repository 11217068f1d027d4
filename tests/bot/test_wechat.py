"""The WeChat official account end to end: messages built, signed and AES-encrypted as WeChat's servers send
them (wechatpy's WeChatCrypto), POSTed over HTTP to the running service (bot.service.app.create_app), with a local fake
WeChat API (tests/fakes/wechat_api.py) recording what the service calls. Real engine, storage (SQLite and
PostgreSQL) and WorkerPool; the patient answers numbered options by their number, as on WeChat."""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
import pytest_asyncio
from aiohttp import web

from bot.service.app import ENGINE, WECHAT, create_app, quiet_libraries
from bot.delivery import DeliveryFailed, Undeliverable
from bot.settings import Settings
from bot.wechat.transport import split_text
from bot.wechat.api import WeChatAPI
from conversations import Text
from work.pool import WorkerPool
from conversations.i18n import t
from storage import Database
from storage.columns import utcnow
from storage.crypto import new_key_text
from tests.conftest import encode
from tests.fakes.wechat_api import (ACCOUNT_ID, AES_KEY, APP_ID, APP_SECRET, TOKEN, Call, FakeWeChat, Reply)
from tests.worker_support import every_worker_busy

pytestmark = pytest.mark.asyncio
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OPENID = "oX7a51Pq2u_Jr0LgV8mZtKc4dE9s"
SEND = "/cgi-bin/message/custom/send"


# -- the service and the patient ---------------------------------------------------------------------------------
@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    server = FakeWeChat()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def lite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only, for the tests about the protocol rather than the database."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'acnebot.db'}", data_dir=tmp_path,
                                   photo_key=new_key_text())
    yield database
    await database.close()


def wechat_settings(fake: FakeWeChat, tmp_path: Path, **overrides) -> Settings:
    values = dict(wechat_token=TOKEN, wechat_app_id=APP_ID, wechat_app_secret=APP_SECRET,
                  wechat_aes_key=AES_KEY if fake.aes else None, wechat_account_id=ACCOUNT_ID,
                  wechat_api_base_url=fake.url, ACNEBOT_DATA_DIR=tmp_path)
    return Settings(**{**values, **overrides})


@dataclass
class Service:
    app: web.Application
    runner: web.AppRunner
    fake: FakeWeChat

    @property
    def transport(self):
        return self.app[WECHAT]


@pytest_asyncio.fixture
async def services(fake: FakeWeChat, pool: WorkerPool, tmp_path: Path) -> AsyncIterator:
    """services(db, **settings): the service on a free port, its callback given to the fake; stopped after."""
    runners: list[web.AppRunner] = []

    async def start(db: Database, **overrides) -> Service:
        app = await create_app(wechat_settings(fake, tmp_path, **overrides), db=db, pool=pool)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        service = Service(app, runner, fake)
        fake.callback_url = _callback(service)
        return service

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@dataclass
class Patient:
    """A WeChat user: sends messages through the fake and reads the passive reply plus what was pushed."""

    service: Service
    openid: str = OPENID
    reply: Reply | None = None
    pushed: list[Call] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    answered: float = 0.0  # seconds until the HTTP answer to the last message
    actions: int = 0  # messages the patient sent (numbers, texts, photos, menu taps): what a check-in costs them

    @property
    def fake(self) -> FakeWeChat:
        return self.service.fake

    def t(self, key: str, **values: object) -> str:
        return t("zh", key, **values)

    async def send(self, xml: str, note: str) -> Reply:
        mark = len(self.fake.calls)
        started = time.monotonic()
        self.actions += 1
        self.reply = await self.fake.post(xml)
        self.answered = answered = time.monotonic() - started
        await self.service.transport.settled(timeout=120)
        self.pushed = self.fake.calls[mark:]
        self.transcript.append(f"<- POST /wechat  {note}")
        self.transcript.append(f"-> HTTP {self.reply.status} in {answered:.2f} s, passive reply: "
                               + (_trim(self.reply.text) if self.reply.text else repr(self.reply.body[:20])))
        for call in self.pushed:
            self.transcript.append(f"   fake API received {call.path}"
                                   + (f" errcode={call.errcode}" if call.errcode else "")
                                   + (f" {call.body.get('msgtype', 'template')}: {_trim(call.text)}"
                                      if call.body and call.touser else ""))
        return self.reply

    async def text(self, content: str) -> Reply:
        return await self.send(self.fake.text_xml(self.openid, content), f"text {content!r}")

    async def image(self, data: bytes, *, media: bool = True) -> Reply:
        return await self.send(self.fake.image_xml(self.openid, data, media=media), f"image ({len(data)} bytes)")

    async def subscribe(self, created: int | None = None) -> Reply:
        return await self.send(self.fake.event_xml(self.openid, "subscribe", created=created), "event subscribe")

    async def click(self, key: str) -> Reply:
        return await self.send(self.fake.event_xml(self.openid, "CLICK", key), f"event CLICK {key}")

    async def choose(self, label_key: str, **values: object) -> Reply:
        """Replies with the number shown before this option of the last numbered prompt."""
        return await self.text(self.number_of(self.t(label_key, **values)))

    def number_of(self, label: str) -> str:
        numbers = re.findall(rf"^(\d+)\. {re.escape(label)}$", self.texts, re.MULTILINE)
        assert numbers, f"no option {label!r} in:\n{self.texts}"
        return numbers[-1]

    @property
    def texts(self) -> str:
        """Everything the patient read after the last message: the passive reply, then the pushed texts."""
        return "\n".join([self.reply.text if self.reply else "",
                          *(c.text for c in self.pushed if c.touser == self.openid and not c.errcode)])

    @property
    def images(self) -> list[bytes]:
        sent = [c.body["image"]["media_id"] for c in self.pushed
                if c.path == SEND and c.body.get("msgtype") == "image" and not c.errcode]
        return [self.fake.media[media_id] for media_id in sent]


def _trim(text: str, limit: int = 70) -> str:
    flat = " / ".join(line for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[:limit] + "…"


async def answer_questions(patient: Patient, age: str = "24") -> None:
    """The questionnaire until the result: the age typed (or skipped by name), everything else skipped by its
    number."""
    while patient.t("questions.skip") in patient.texts:
        if patient.t("q.age") in patient.texts:
            await patient.text(age or patient.t("questions.skip"))
            age = ""
        else:
            await patient.choose("questions.skip")


# -- the journey -------------------------------------------------------------------------------------------------
async def test_full_check_in(services, db, fake, face_photo, shipped_model, backend):
    service = await services(db)
    alice = Patient(service)
    await alice.subscribe()  # first contact: what the bot does, and consent, in Chinese
    assert alice.t("consent.question") in alice.texts and "1. " + alice.t("consent.accept") in alice.texts
    assert alice.t("numbered.reply_with_number") in alice.texts
    await alice.choose("consent.accept")
    assert alice.t("consent.accepted") in alice.texts and alice.t("menu.title") in alice.texts
    await alice.click("checkin")  # the custom menu's New check-in
    assert alice.t("checkin.mode") in alice.texts
    await alice.choose("checkin.mode_face")
    assert alice.t("checkin.face_photo") in alice.texts

    await alice.image(face_photo)
    assert [c.query["media_id"] for c in fake.called("/cgi-bin/media/get")][-1:] == \
        [re.search(r"<MediaId><!\[CDATA\[(\w+)", fake.posts[-1][0]).group(1)]
    assert alice.t("checkin.face_photo_ok") in alice.texts and alice.t("q.age") in alice.texts
    await answer_questions(alice)

    assert alice.t("result.findings_title") in alice.texts and alice.t("result.advice_title") in alice.texts
    (annotated,) = alice.images  # uploaded as temporary media, sent as a customer-service image
    assert annotated[:2] == b"\xff\xd8"
    # One text with the result, then its picture, then one text with the advice and the menu.
    sent = [c for c in alice.pushed if c.path == SEND]
    picture = next(i for i, c in enumerate(sent) if c.body["msgtype"] == "image")
    result = sent[picture - 1].text
    assert alice.t("result.title") in result and alice.t("result.findings_title") in result
    assert [c.body["msgtype"] for c in sent[picture + 1:]] == ["text"]
    assert sent[picture + 1].text.startswith(alice.t("result.advice_title"))
    assert alice.t("menu.title") in alice.texts
    for call in fake.called(SEND):
        if call.body["msgtype"] == "text":
            assert len(call.text.encode()) <= 2048
    user = await db.users.find_user("wechat", OPENID)
    assert len(await db.assessments.list_assessments(user.id)) == 1
    if backend == "sqlite":
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "wechat-journey.txt").write_text(
            "A full check-in on WeChat (safe mode): what the fake WeChat server POSTed to /wechat (signed, AES-"
            "encrypted XML) and the service's answers, passive replies decrypted, and the calls the fake WeChat "
            "API received (texts trimmed, photo bytes left out)\n\n" + "\n".join(alice.transcript) + "\n",
            encoding="utf-8")


async def test_a_second_check_in_takes_at_most_five_actions(services, db, fake, face_photo, shipped_model):
    service = await services(db)
    alice = await consented(service)
    counts = []
    visits = ((face_photo, lambda: answer_questions(alice, age="1")),  # one year old: typed, not option 1
              (face_photo, lambda: alice.choose("questions.nothing_changed")))  # the same pose
    for visit, (photo, answer) in enumerate(visits):
        alice.actions = 0
        # The menu's New check-in (an event: no MsgId, so told apart by its time; a second later each visit)
        await alice.send(fake.event_xml(OPENID, "CLICK", "checkin", created=int(time.time()) + visit), "CLICK")
        await alice.choose("checkin.mode_face")
        await alice.image(photo)
        await answer()
        assert alice.t("result.title") in alice.texts and alice.images
        counts.append(alice.actions)
    print(f"wechat: first check-in {counts[0]} actions, second {counts[1]}")
    assert counts[1] <= 5 < counts[0], counts
    user = await db.users.find_user("wechat", OPENID)
    assert (await db.profiles.load_profile(user.id)).answers["age"] == 1  # "1" was the age, not option 1


async def test_a_typed_number_answers_a_number_question_and_skip_goes_by_name(services, lite_db, fake, face_photo):
    service = await services(lite_db)
    alice = await consented(service)
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    await alice.image(face_photo)
    assert alice.t("q.age") in alice.texts and "1. " not in alice.texts  # named, not numbered
    assert f"“{alice.t('questions.skip')}”" in alice.texts
    await alice.text(alice.t("questions.skip"))  # skipped by name
    assert alice.t("q.sex") in alice.texts and "1. " in alice.texts  # options numbered again
    user = await lite_db.users.find_user("wechat", OPENID)
    assert (await lite_db.profiles.load_profile(user.id)).answers["age"] is None


async def test_retry_storm_of_one_message_is_answered_once(services, db, fake, face_photo, backend):
    replica = await services(db)  # two replicas on one database behind WeChat's callback URL
    service = await services(db)
    alice = Patient(service)
    await alice.subscribe()
    await alice.choose("consent.accept")
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    xml = fake.image_xml(OPENID, face_photo + secrets.token_bytes(8))  # not in the pool's cache: slow
    mark = len(fake.calls)
    # WeChat's three retries of the photo message arrive while the first delivery is still being checked,
    # one of them at the other replica
    first = asyncio.create_task(fake.post(xml))
    await asyncio.sleep(0.05)
    retries = await asyncio.gather(fake.post(xml), fake.post(xml), fake.post(xml, url=_callback(replica)))
    replies = [await first, *retries]
    await asyncio.gather(service.transport.settled(timeout=120), replica.transport.settled(timeout=120))
    assert all(r.status == 200 for r in replies)
    assert len(fake.called("/cgi-bin/media/get")) <= 2  # retries at the same replica were answered at once
    again = await fake.post(xml)  # a late retry, after the first is done: the engine's dedup answers it
    await service.transport.settled()
    answers = [r.text for r in [*replies, again]] + [c.text for c in fake.sent(OPENID, since=mark)]
    assert sum(answer.count(alice.t("checkin.face_photo_ok")) for answer in answers) == 1
    assert sum(answer.count(alice.t("q.age")) for answer in answers) == 1


def _callback(service: Service) -> str:
    return f"http://127.0.0.1:{service.runner.addresses[0][1]}/wechat"


# -- refused requests ------------------------------------------------------------------------------------------------
async def _refused(service: Service, fake: FakeWeChat, body: str, query: dict[str, str], status: int,
                   db: Database, caplog) -> None:
    mark = len(fake.calls)
    reply = await fake.post(body, query=query, raw=True)
    assert reply.status == status and reply.text == ""
    await service.transport.settled()
    assert fake.calls[mark:] == [] and await db.users.find_user("wechat", OPENID) is None
    assert "secret words" not in caplog.text and "refused" in caplog.text


async def test_forged_unsigned_and_replayed_messages_are_refused(services, lite_db, fake, caplog):
    service = await services(lite_db)
    xml = fake.text_xml(OPENID, "secret words")
    body, query = fake.envelope(xml, fake.signed_query())
    await _refused(service, fake, body, {**query, "signature": "0" * 40}, 403, lite_db, caplog)
    forged = fake.signed_query(token="not-the-token")
    await _refused(service, fake, *fake.envelope(xml, forged), 403, lite_db, caplog)
    await _refused(service, fake, body, {}, 403, lite_db, caplog)
    await _refused(service, fake, body, {**query, "msg_signature": "f" * 40}, 403, lite_db, caplog)
    replayed = fake.signed_query(timestamp=int(time.time()) - 600)
    await _refused(service, fake, *fake.envelope(xml, replayed), 403, lite_db, caplog)
    await _refused(service, fake, xml, fake.signed_query(), 403, lite_db, caplog)  # plain text in safe mode
    good = await fake.post(xml)  # the same message, properly sealed, is answered
    assert good.status == 200 and t("zh", "consent.question") in good.text + "".join(
        c.text for c in fake.sent(OPENID))


async def test_entities_another_app_and_another_account_are_refused(services, lite_db, fake, caplog):
    service = await services(lite_db)
    xxe = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           f"<xml><ToUserName><![CDATA[{ACCOUNT_ID}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]>"
           "</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           "<Content>&x;</Content><MsgId>1</MsgId></xml>")
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
              + f"]><xml><Content>&lol9;</Content><FromUserName>{OPENID}</FromUserName></xml>")
    for bad in (xxe, laughs):
        await _refused(service, fake, *fake.envelope(bad, fake.signed_query()), 400, lite_db, caplog)  # inside
        sealed, query = fake.envelope(fake.text_xml(OPENID, "secret words"), fake.signed_query())
        outer = sealed.replace("<xml>", "<!DOCTYPE xml [<!ENTITY e 'x'>]><xml>")
        await _refused(service, fake, outer, query, 400, lite_db, caplog)  # around the envelope
    other_app = fake.envelope(fake.text_xml(OPENID, "secret words"), fake.signed_query(), app_id="wx9999999999999999")
    await _refused(service, fake, *other_app, 403, lite_db, caplog)
    other_account = fake.text_xml(OPENID, "secret words").replace(ACCOUNT_ID, "gh_someoneelse")
    await _refused(service, fake, *fake.envelope(other_account, fake.signed_query()), 403, lite_db, caplog)
    await _refused(service, fake, *fake.envelope("<xml><not", fake.signed_query()), 400, lite_db, caplog)


async def test_url_check_and_plain_mode(services, lite_db, fake, tmp_path):
    fake.aes = False
    service = await services(lite_db, wechat_aes_key=None)
    assert service.transport.mode == "plain"
    session = fake._session
    query = {**fake.signed_query(), "echostr": "4823946193042"}
    async with session.get(fake.callback_url, params=query) as response:
        assert response.status == 200 and await response.text() == "4823946193042"
    async with session.get(fake.callback_url, params={**query, "signature": "1" * 40}) as response:
        assert response.status == 403
    reply = await fake.post(fake.text_xml(OPENID, "你好"))
    assert reply.status == 200 and "<xml>" in reply.body and "<Encrypt>" not in reply.body
    assert t("zh", "consent.question") in reply.text + "".join(c.text for c in fake.sent(OPENID))
    other_account = fake.text_xml(OPENID, "hi").replace(ACCOUNT_ID, "gh_someoneelse")
    assert (await fake.post(other_account)).status == 403


# -- WeChat's rules ---------------------------------------------------------------------------------------------------
async def consented(service: Service) -> Patient:
    alice = Patient(service)
    await alice.subscribe()
    await alice.choose("consent.accept")
    return alice


async def test_a_quick_photo_check_answers_in_the_passive_reply(services, lite_db, fake, pool, face_photo,
                                                               shipped_model):
    """The turn says nothing before a photo's check: the passive reply waits for it (until the deadline) and says
    the verdict and the first question, so no customer-service message is spent on them (WeChat counts them)."""
    await pool.warm()  # a worker's first job loads its models
    service = await services(lite_db)
    alice = await consented(service)
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    await alice.image(face_photo)
    assert alice.t("checkin.face_photo_ok") in alice.reply.text and alice.t("q.age") in alice.reply.text
    assert not fake.sent(OPENID, since=len(fake.calls) - len(alice.pushed))
    await alice.text("24")  # the age question's prompt was remembered: a typed number answers it
    assert alice.t("q.sex") in alice.reply.text


async def test_slow_work_misses_the_deadline_the_answer_is_pushed(services, lite_db, fake, face_photo,
                                                                   shipped_model):
    service = await services(lite_db, wechat_reply_deadline=0.2)
    alice = await consented(service)
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    fresh = face_photo + secrets.token_bytes(8)  # bytes after the JPEG's end: a photo no cache has seen
    await alice.image(fresh)
    assert alice.reply.status == 200 and alice.answered < 2.0  # the passive answer left in time (WeChat: 5 s)
    assert alice.texts.count(alice.t("checkin.face_photo_ok")) == 1  # passively if quick enough, else pushed
    await answer_questions(alice)  # the last answer starts the assessment
    assert alice.answered < 2.0 and alice.t("result.findings_title") not in alice.reply.text
    assert alice.t("result.findings_title") in alice.texts and len(alice.images) == 1
    analysing = alice.t("result.analysing")
    assert (analysing in alice.reply.text) != (analysing in "".join(c.text for c in alice.pushed))  # said once


async def test_the_passive_reply_does_not_wait_for_the_assessment(services, db, fake, pool, face_photo, shipped_model,
                                                                  tmp_path):
    """With the only worker busy, the last answer's passive reply says "Analysing…" (WeChat waits 5 s); the result
    comes once as customer-service messages when the worker is free. A text sent meanwhile waits for the result
    (its POST answered "success" at the deadline) and is answered after it, at the menu, not "still analysing"."""
    service = await services(db)
    alice = await consented(service)
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    await alice.image(face_photo)
    while alice.t("q.distress") not in alice.texts:
        await (alice.text(alice.t("questions.skip")) if alice.t("q.age") in alice.texts
               else alice.choose("questions.skip"))
    mark = len(fake.calls)
    sent = lambda: [c.text for c in fake.sent(OPENID, since=mark)]  # noqa: E731
    async with every_worker_busy(pool, tmp_path / "go"):
        last = await fake.post(fake.text_xml(OPENID, alice.number_of(alice.t("questions.skip"))))
        assert last.status == 200 and alice.t("result.analysing") in last.text
        meanwhile = await fake.post(fake.text_xml(OPENID, "hello"))
        assert (meanwhile.status, meanwhile.text) == (200, "")
        assert not [text for text in sent() if alice.t("result.title") in text]
    await service.transport.settled(timeout=120)
    texts = sent()
    (result,) = [i for i, text in enumerate(texts) if alice.t("result.title") in text]
    answer = next(i for i, text in enumerate(texts) if alice.t("unexpected.text") in text)
    assert result < answer and not any(alice.t("result.still_analysing") in text for text in texts)
    assert len([c for c in fake.sent(OPENID, since=mark) if c.body.get("msgtype") == "image"]) == 1


async def test_stopping_lets_the_assessment_in_hand_finish_and_be_pushed(services, lite_db, fake, pool, face_photo,
                                                                         shipped_model, tmp_path):
    """The passive reply has left ("Analysing…") and the only worker is busy when the service is stopped (what
    SIGTERM does): the stop waits for the assessment, whose result is still pushed, once."""
    service = await services(lite_db)
    alice = await consented(service)
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    await alice.image(face_photo)
    mark = len(fake.calls)
    async with every_worker_busy(pool, tmp_path / "go"):
        last = await fake.post(fake.text_xml(OPENID, alice.t("questions.skip_all")))  # by name, at the age question
        assert alice.t("result.analysing") in last.text
        stopping = asyncio.ensure_future(service.runner.cleanup())
        await asyncio.sleep(0.5)
        assert not stopping.done()
    await asyncio.wait_for(stopping, 120)
    assert len([c for c in fake.sent(OPENID, since=mark) if alice.t("result.title") in c.text]) == 1


async def test_token_expiring_mid_flight_is_refreshed_once_and_the_call_retried(services, lite_db, fake):
    service = await services(lite_db)
    alice = await consented(service)
    await service.transport.deliver(OPENID, [Text("before")], purpose="staff")
    assert len(fake.called("/cgi-bin/token")) == 1
    fake.expire_token()  # e.g. another system fetched a new token, or WeChat expired it early
    await service.transport.deliver(OPENID, [Text("x" * 3000)], purpose="staff")  # long: pushed, split
    refused = [c for c in fake.called(SEND) if c.errcode == 42001]
    assert len(refused) == 1 and len(fake.called("/cgi-bin/token")) == 2
    delivered = fake.sent(OPENID, since=fake.calls.index(refused[0]))
    assert "".join(c.text for c in delivered) == "x" * 3000 and len(delivered) == 2
    assert alice.openid == OPENID


async def test_replicas_share_one_token_refresh(lite_db, fake, tmp_path):
    settings = wechat_settings(fake, tmp_path)
    apis = [WeChatAPI(settings, lite_db.cache) for _ in range(4)]
    for api in apis:
        await api.start()
    try:
        tokens = await asyncio.gather(*(api.access_token() for api in apis))
    finally:
        for api in apis:
            await api.close()
    assert len(set(tokens)) == 1 and len(fake.called("/cgi-bin/token")) == 1


async def test_outside_the_window_and_unsubscribed(services, lite_db, fake, caplog):
    service = await services(lite_db, wechat_reminder_template_id="TPL_reminder_1")
    transport = service.transport
    alice = await consented(service)
    user = await lite_db.users.find_user("wechat", OPENID)

    fake.outside_window.add(OPENID)  # 45015: the push is refused; the service goes on
    assert await transport.push(OPENID, [Text("later")]) is False
    assert "45015" in caplog.text
    with pytest.raises(Undeliverable):
        await transport.deliver(OPENID, [Text("a staff reply")], purpose="staff")
    await transport.deliver(OPENID, [Text(alice.t("reminders.due"))], purpose="reminder")  # falls back to a template
    (template,) = fake.called("/cgi-bin/message/template/send")
    assert template.body["template_id"] == "TPL_reminder_1" and template.touser == OPENID
    assert template.body["data"]["content"]["value"] == alice.t("reminders.due")
    fake.outside_window.clear()

    fake.fail_next(SEND, 45047)  # too many customer-service messages since the patient last wrote
    with pytest.raises(DeliveryFailed):  # passes once the patient writes again
        await transport.deliver(OPENID, [Text("a staff reply")], purpose="staff")
    fake.fail_next(SEND, 45047)
    await transport.deliver(OPENID, [Text(alice.t("reminders.due"))], purpose="reminder")
    assert len(fake.called("/cgi-bin/message/template/send")) == 2

    await lite_db.contacts.record_inbound(user.id, at=utcnow() - timedelta(hours=49))
    mark = len(fake.calls)
    await transport.deliver(OPENID, [Text(alice.t("reminders.due"))], purpose="reminder")
    assert [c.path for c in fake.calls[mark:]] == ["/cgi-bin/message/template/send"]  # no CS attempt
    with pytest.raises(Undeliverable):
        await transport.deliver(OPENID, [Text("export ready")], purpose="export")

    await alice.send(fake.event_xml(OPENID, "unsubscribe"), "event unsubscribe")
    assert alice.reply.body == "success" and await lite_db.users.find_user("wechat", OPENID) is not None
    with pytest.raises(Undeliverable):
        await transport.deliver(OPENID, [Text(alice.t("reminders.due"))], purpose="reminder")
    await alice.subscribe(created=int(time.time()) + 1)  # back again (a later event): reachable, data kept
    assert alice.t("start.welcome_back") in alice.texts
    await transport.deliver(OPENID, [Text("hello again")], purpose="staff")
    assert fake.sent(OPENID)[-1].text == "hello again"


async def test_a_reminder_is_answered_by_number(services, lite_db, fake):
    service = await services(lite_db, wechat_reminder_template_id="TPL_reminder_1")
    alice = await consented(service)
    await alice.click("remind")  # the custom menu's Reminders
    await alice.choose("reminders.cadence.weekly")
    await alice.choose("reminders.time_evening")
    await alice.text("Asia/Shanghai")  # the time zone, asked once
    user = await lite_db.users.find_user("wechat", OPENID)
    schedule = await lite_db.reminders.get_reminder(user.id)
    assert (schedule.cadence, schedule.time_of_day.hour, schedule.state) == ("weekly", 19, "active")

    reminder = await service.app[ENGINE].reminder(user.id)  # what the reminder dispatcher sends
    mark = len(fake.calls)
    await service.transport.deliver(OPENID, reminder, purpose="reminder")  # within 48 h: customer-service
    alice.reply, alice.pushed = None, fake.calls[mark:]
    assert alice.t("reminders.due_first") in alice.texts and alice.t("reminders.snooze") in alice.texts
    await alice.choose("reminders.start_checkin")  # the number of an option of the pushed prompt
    assert alice.t("checkin.mode") in alice.texts

    await lite_db.contacts.record_inbound(user.id, at=utcnow() - timedelta(hours=72))
    await service.transport.deliver(OPENID, await service.app[ENGINE].reminder(user.id), purpose="reminder")
    (template,) = fake.called("/cgi-bin/message/template/send")
    assert template.text.startswith(alice.t("reminders.due_first")) and "1. " not in template.text


async def test_other_kinds_and_photo_by_pic_url(services, lite_db, fake, portrait_rgb, shipped_model, caplog):
    quiet_libraries()
    caplog.set_level(logging.DEBUG)
    service = await services(lite_db)
    alice = await consented(service)
    await alice.text("my secret diary entry")
    assert alice.t("unexpected.text") in alice.texts
    await alice.send(fake.voice_xml(OPENID), "voice")
    assert alice.t("unexpected.other") in alice.texts
    await alice.click("checkin")
    await alice.choose("checkin.mode_face")
    big = encode(portrait_rgb, "PNG", compress_level=0)  # 0.8 MB: arrives in many chunks
    assert len(big) > 500_000
    await alice.image(big, media=False)  # media/get refuses the MediaId: the PicUrl is fetched instead
    assert any(c.path.startswith("/pic/") for c in alice.pushed)
    assert alice.t("checkin.face_photo_ok") in alice.texts
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    tokens = {c.query["access_token"] for c in fake.calls if "access_token" in c.query}
    assert tokens and not any(secret in logged for secret in [*tokens, APP_SECRET, AES_KEY, "my secret diary"])


async def test_wechat_menu_command(fake, tmp_path, monkeypatch):
    import subprocess
    import sys

    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WECHAT_API_BASE_URL": fake.url, "ACNEBOT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "wechat-menu", env=env,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    (call,) = fake.called("/cgi-bin/menu/create")
    assert [(b["type"], b["key"], b["name"]) for b in call.body["button"]] == [
        ("click", "checkin", t("zh", "menu.checkin")), ("click", "history", t("zh", "menu.history")),
        ("click", "remind", t("zh", "menu.reminders"))]
    assert APP_SECRET not in out.decode() + err.decode()


async def test_long_texts_split_within_wechat_limits():
    text = "\n".join(["痤疮" * 100] * 30)
    parts = split_text(text)
    assert all(len(p.encode()) <= 2000 for p in parts) and "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert split_text("短") == ["短"] and all(len(p.encode()) <= 2000 for p in split_text("字" * 5000))


async def test_wechat_settings(tmp_path):
    common = dict(wechat_token=TOKEN, wechat_app_id=APP_ID, ACNEBOT_DATA_DIR=tmp_path)
    assert not Settings(**common).wechat_enabled and Settings(**common).messengers == []
    on = Settings(**common, wechat_app_secret=APP_SECRET)
    assert on.wechat_enabled and on.messengers == ["wechat"] and on.host == "0.0.0.0"
    assert (on.wechat_callback_path, on.wechat_api_base_url, on.wechat_reply_deadline) == (
        "/wechat", "https://api.weixin.qq.com", 4.0)
    assert APP_SECRET not in repr(on) and TOKEN not in repr(on)
    for bad in (dict(wechat_aes_key="short"), dict(wechat_callback_path="wechat"),
                dict(wechat_callback_path="/telegram/x"), dict(wechat_reply_deadline=6)):
        with pytest.raises(ValidationError):
            Settings(**common, **bad)
