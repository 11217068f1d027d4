"""The bad-input corpus through the WeChat callback: hostile requests (refused with no answer, no user created,
nothing logged of their content) and odd messages from a consented patient (a clear answer, no traceback, and
the patient can still start a check-in afterwards). Real service (create_app), real WeChatCrypto sealing, the
fake WeChat API (tests/fakes/wechat_api.py)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.service.app import quiet_libraries
from tests.bad_input import images
from tests.bot.test_wechat import OPENID, Patient, consented, fake, lite_db, services  # noqa: F401  (fixtures)
from tests.fakes.wechat_api import ACCOUNT_ID, FakeWeChat

pytestmark = pytest.mark.asyncio
SECRET = "secret words"


def _text(content: str) -> Callable[[FakeWeChat], str]:
    return lambda fake: fake.text_xml(OPENID, content)


def _doctype(fake: FakeWeChat, declarations: str, content: str) -> str:
    return (f'<?xml version="1.0"?><!DOCTYPE xml [{declarations}]><xml><ToUserName><![CDATA[{ACCOUNT_ID}]]>'
            f"</ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>{int(time.time())}"
            f"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{content}</Content><MsgId>1</MsgId></xml>")


LAUGHS = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10))


@dataclass(frozen=True)
class Refused:
    """A request WeChat's servers would never send: refused with `status` and an empty body."""

    name: str
    request: Callable[[FakeWeChat], tuple[str, dict[str, str]]]  # (body, query string)
    status: int


def _sealed(make: Callable[[FakeWeChat], str], **query: str) -> Callable[[FakeWeChat], tuple[str, dict[str, str]]]:
    def request(fake: FakeWeChat) -> tuple[str, dict[str, str]]:
        body, signed = fake.envelope(make(fake), fake.signed_query())
        return body, {**signed, **query}
    return request


REFUSED = [
    Refused("forged signature", _sealed(_text(SECRET), signature="0" * 40), 403),
    Refused("signed with another token",
            lambda fake: fake.envelope(fake.text_xml(OPENID, SECRET), fake.signed_query(token="not-the-token")), 403),
    Refused("no signature at all", lambda fake: (fake.envelope(fake.text_xml(OPENID, SECRET),
                                                               fake.signed_query())[0], {}), 403),
    Refused("forged msg_signature", _sealed(_text(SECRET), msg_signature="f" * 40), 403),
    Refused("replayed: timestamp 10 minutes old", lambda fake: fake.envelope(
        fake.text_xml(OPENID, SECRET), fake.signed_query(timestamp=int(time.time()) - 600)), 403),
    Refused("timestamp from the future", lambda fake: fake.envelope(
        fake.text_xml(OPENID, SECRET), fake.signed_query(timestamp=int(time.time()) + 3600)), 403),
    Refused("plain XML in safe mode", lambda fake: (fake.text_xml(OPENID, SECRET), fake.signed_query()), 403),
    Refused("XXE inside the envelope",
            _sealed(lambda fake: _doctype(fake, '<!ENTITY x SYSTEM "file:///etc/passwd">', "&x;")), 400),
    Refused("billion laughs inside the envelope", _sealed(lambda fake: _doctype(fake, LAUGHS, "&lol9;")), 400),
    Refused("DOCTYPE around the envelope", lambda fake: (
        lambda sealed: (sealed[0].replace("<xml>", "<!DOCTYPE xml [<!ENTITY e 'x'>]><xml>"), sealed[1]))(
        fake.envelope(fake.text_xml(OPENID, SECRET), fake.signed_query())), 400),
    Refused("sealed for another AppId", lambda fake: fake.envelope(
        fake.text_xml(OPENID, SECRET), fake.signed_query(), app_id="wx9999999999999999"), 403),
    Refused("for another official account",
            _sealed(lambda fake: fake.text_xml(OPENID, SECRET).replace(ACCOUNT_ID, "gh_someoneelse")), 403),
    Refused("malformed XML inside", _sealed(lambda fake: "<xml><not"), 400),
    # safe mode: without a msg_signature over its Encrypt field, nothing is even parsed
    Refused("malformed envelope", lambda fake: ("<xml><Encrypt>", fake.signed_query()), 403),
    Refused("empty body", lambda fake: ("", fake.signed_query()), 403),
    Refused("a 100 KB body", lambda fake: ("<xml>" + "A" * 100_000 + "</xml>", fake.signed_query()), 400),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
async def test_a_hostile_request_is_refused(case: Refused, services, lite_db, fake, caplog):
    quiet_libraries()
    caplog.set_level(logging.DEBUG)
    service = await services(lite_db)
    mark = len(fake.calls)
    body, query = case.request(fake)
    reply = await fake.post(body, query=query, raw=True)
    await service.transport.settled()
    assert (reply.status, reply.text) == (case.status, "")  # no passive reply
    assert fake.calls[mark:] == [] and await lite_db.users.find_user("wechat", OPENID) is None
    assert "refused" in caplog.text and SECRET not in caplog.text and "passwd" not in caplog.text


@dataclass(frozen=True)
class Odd:
    """Something a consented patient sends at the menu (`at` "menu") or at the face-photo step ("photo");
    `expect`: catalogue keys of the answer."""

    name: str
    send: Callable[[Patient], object]
    expect: tuple[str, ...]
    at: str = "menu"


def _image(make: Callable[[bytes], bytes]) -> Callable[[Patient], object]:
    return lambda patient: patient.image(make(patient.photo))


def _raw(msg_type: str, **fields: str) -> Callable[[Patient], object]:
    def send(patient: Patient) -> object:
        fields.setdefault("MsgId", str(time.time_ns()))
        return patient.send(patient.fake._xml(OPENID, msg_type, fields, None), msg_type)
    return send


ODD = [
    Odd("emoji only", lambda p: p.text("😀🔥💯🙈"), ("unexpected.text",)),
    Odd("10,000 characters", lambda p: p.text("痘" * 10_000), ("unexpected.text",)),
    Odd("a number no option has", lambda p: p.text("99"), ("unexpected.text",)),
    Odd("zero", lambda p: p.text("0"), ("unexpected.text",)),
    Odd("location", _raw("location", Location_X="31.2", Location_Y="121.4", Scale="15", Label="somewhere"),
        ("unexpected.other",)),
    Odd("link", _raw("link", Title="t", Description="d", Url="http://example.invalid/"), ("unexpected.other",)),
    Odd("short video", _raw("shortvideo", MediaId="V1", ThumbMediaId="T1"), ("unexpected.other",)),
    Odd("a message type WeChat may add later", _raw("hologram", Payload="?"), ("unexpected.other",)),
    Odd("an unknown event", lambda p: p.send(p.fake.event_xml(OPENID, "SCAN", "qr"), "event SCAN"), ()),
    Odd("a key of an older menu", lambda p: p.click("not-a-key"), ("command.unknown",)),
    Odd("a PDF renamed .jpg", _image(images.pdf_renamed), ("intake.not_an_image",), at="photo"),
    Odd("a truncated JPEG", _image(images.truncated_jpeg), ("intake.corrupt",), at="photo"),
    Odd("a 1x1 image", _image(images.one_pixel), ("quality.too_small",), at="photo"),
    Odd("a black frame", _image(images.black_frame), ("quality.no_face",), at="photo"),
]


@pytest.mark.parametrize("case", ODD, ids=[c.name for c in ODD])
async def test_an_odd_message_gets_a_clear_answer(case: Odd, services, lite_db, fake, face_photo, shipped_model):
    service = await services(lite_db)
    patient = await consented(service)
    patient.photo = face_photo
    if case.at == "photo":
        await patient.click("checkin")
        await patient.choose("checkin.mode_face")
    reply = await case.send(patient)
    assert reply.status == 200
    for key in case.expect:
        assert patient.t(key).split("{")[0] in patient.texts, (case.name, patient.texts)
    assert "Traceback" not in patient.texts and "Error" not in patient.texts
    if case.at == "photo":  # still at the photo step: a good photo goes on to the questions
        await patient.image(face_photo)
        assert patient.t("checkin.face_photo_ok") in patient.texts
    else:  # the menu still works
        await patient.click("checkin")
        assert patient.t("checkin.mode") in patient.texts
