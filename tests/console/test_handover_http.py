"""The console's handover pages over HTTP with a WeChat patient, on SQLite and PostgreSQL: the real service
(create_app with bot/wechat/transport.py against the fake WeChat API, messages signed and encrypted as WeChat sends them)
and the console from create_console_app with the service's HandoverService, two support staff and an admin.

Replies go out as customer-service messages inside WeChat's 48-hour window; outside it the console says they
cannot be delivered. Support staff see only the patients who asked for a person, and only while they wait."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from bot.service.app import ENGINE, WECHAT
from bot.settings import Settings
from bot.webchat.routes import PUSHED
from conversations.i18n import t
from storage.columns import utcnow
from tests.console.conftest import consented_patient
from tests.bot.test_wechat import wechat_settings
from tests.console.handover_support import service_and_console
from tests.fakes.wechat_api import FakeWeChat

pytestmark = pytest.mark.asyncio
OPENID = "oHandover_5Qx2LmN8pR4tV7wY1zB3"
SEND = "/cgi-bin/message/custom/send"


@pytest_asyncio.fixture
async def wechat() -> AsyncIterator[FakeWeChat]:
    fake = FakeWeChat()
    await fake.start()
    yield fake
    await fake.stop()


async def _running(wechat: FakeWeChat, db, pool, runners, tmp_path: Path):
    running = await service_and_console(wechat_settings(wechat, tmp_path), db, pool, runners)
    wechat.callback_url = f"{running.url}/wechat"
    return running


class WeChatPatient:
    """Reads the passive reply and what was pushed after it; answers numbered options by their number."""

    def __init__(self, fake: FakeWeChat, running):
        self.fake, self.running, self.texts = fake, running, ""

    async def send(self, xml: str) -> str:
        mark = len(self.fake.calls)
        reply = await self.fake.post(xml)
        assert reply.status == 200
        await self.running.app[WECHAT].settled(timeout=60)
        self.texts = "\n".join([reply.text, *(c.text for c in self.fake.sent(OPENID, since=mark))])
        return self.texts

    async def text(self, content: str) -> str:
        return await self.send(self.fake.text_xml(OPENID, content))

    async def choose(self, label_key: str) -> str:
        label = re.escape(t("zh", label_key))
        numbers = re.findall(rf"^(\d+)\. {label}$", self.texts, re.MULTILINE)
        assert numbers, f"no option {label_key} in {self.texts!r}"
        return await self.text(numbers[-1])


def _handover_id(page: str) -> int:
    return int(re.search(r'action="/handovers/(\d+)/take"', page).group(1))


async def test_two_support_staff_and_a_wechat_patient(wechat, db, pool, shipped_model, runners,
                                                      tmp_path, support_staff, make_staff):
    running = await _running(wechat, db, pool, runners, tmp_path)
    patient = WeChatPatient(wechat, running)
    await patient.send(wechat.event_xml(OPENID, "subscribe"))
    await patient.choose("consent.accept")
    opened = await patient.choose("menu.human")
    assert t("zh", "person.opened").split("\n")[0] in opened
    user = await db.users.find_user("wechat", OPENID)
    await consented_patient(running.app[ENGINE], "quiet-one")  # never asked for a person
    quiet = await db.users.find_user("webchat", "quiet-one")

    sue, tom, ada = make_staff(running.console), make_staff(running.console), make_staff(running.console)
    for who, name in ((sue, "sue"), (tom, "tom"), (ada, "ada")):
        assert (await who.login(name)).status == 303

    # Support staff see the patient who asked, and nobody else.
    listing = await tom.page("/patients")
    assert OPENID in listing and "quiet-one" not in listing and "1 patients" in listing
    assert (await tom.get(f"/patients/{quiet.id}")).status == 403
    assert (await tom.get(f"/patients/{quiet.id}/transcript")).status == 403
    assert "quiet-one" in await ada.page("/patients")  # an admin browses

    # Both see it in the queue; sue takes it; tom loses the race and sees who has it.
    queue_sue, queue_tom = await sue.page("/handovers"), await tom.page("/handovers")
    assert OPENID in queue_sue and OPENID in queue_tom and "no check-in yet" in queue_tom
    handover = _handover_id(queue_sue)
    assert (await sue.post(f"/handovers/{handover}/take", {}, csrf=False)).status == 403  # no CSRF token
    stranger = make_staff(running.console)  # not signed in: the poll gets 401, the page a redirect to sign in
    assert (await stranger.http.get(f"{running.console.url}/handovers/{handover}/messages")).status == 401
    assert (await stranger.get(f"/handovers/{handover}")).headers["Location"].startswith("/login")
    assert (await sue.post(f"/handovers/{handover}/take", {})).headers["Location"] == f"/handovers/{handover}"
    lost = await tom.post(f"/handovers/{handover}/take", {})
    assert lost.status == 409 and "Already taken by sue." in await lost.text()
    assert "taken by sue" in await tom.page("/handovers")
    tom_view = await tom.page(f"/handovers/{handover}")
    assert 'id="reply"' not in tom_view and "Only the staff member who took this handover" in tom_view
    refused = await tom.post(f"/handovers/{handover}/reply", {"text": "I'll answer instead"})
    assert refused.status == 403
    assert (await tom.post(f"/handovers/{handover}/close", {})).status == 403

    # The patient writes; sue's page polls and gets it.
    page = await sue.page(f"/handovers/{handover}")
    assert 'id="reply"' in page and '<script src="/static/handover.js"' in page
    after = int(re.search(r'data-after="(\d+)"', page).group(1))
    await patient.text("My cheeks burn after the new cream")
    polled = await (await sue.get(f"/handovers/{handover}/messages?after={after}")).json()
    assert polled["status"] == "taken" and polled["taken_by"] == "sue"
    assert [(m["direction"], m["text"]) for m in polled["messages"] if m["direction"] == "in"] == [
        ("in", "My cheeks burn after the new cream")]
    assert (await (await sue.get(f"/handovers/{handover}/messages?after={polled['messages'][-1]['id']}"))
            .json())["messages"] == []

    # Inside 48 hours: a customer-service message.
    mark = len(wechat.calls)
    sent = await sue.post(f"/handovers/{handover}/reply", {"text": "Stop the cream for a week, please."})
    assert sent.headers["Location"] == f"/handovers/{handover}?outcome=delivered"
    assert "Delivered to the patient." in await sue.page(sent.headers["Location"])
    (pushed,) = wechat.sent(OPENID, since=mark)
    assert pushed.path == SEND and "Stop the cream for a week, please." in pushed.text

    # Outside 48 hours: nothing is sent, and the console says so.
    await db.contacts.record_inbound(user.id, at=utcnow() - timedelta(hours=49))
    wechat.outside_window.add(OPENID)
    mark = len(wechat.calls)
    late = await sue.post(f"/handovers/{handover}/reply", {"text": "Are you still there?"})
    assert late.headers["Location"].endswith("outcome=undeliverable")
    assert "Cannot be delivered" in await sue.page(late.headers["Location"])
    assert wechat.sent(OPENID, since=mark) == []

    closed = await sue.post(f"/handovers/{handover}/close", {})
    assert closed.headers["Location"] == f"/handovers?closed={handover}&outcome=closed_undeliverable"
    assert "cannot be delivered" in await sue.page(closed.headers["Location"])
    assert (await (await sue.get(f"/handovers/{handover}/messages")).json()) == {
        "status": "closed", "taken_by": "sue", "messages": []}  # closed: support staff see no more
    assert (await sue.get(f"/patients/{user.id}")).status == 403
    assert (await sue.get(f"/handovers/{handover}")).status == 403
    assert "Nobody is waiting" in await tom.page("/handovers")

    # The transcript and the audit log have it all (an admin reads them).
    transcript = await ada.page(f"/patients/{user.id}/transcript")
    for text in ("My cheeks burn after the new cream", "Stop the cream for a week, please.", "Are you still there?"):
        assert text in transcript
    audit = [(e.action, e.staff_id) for e in await db.audit.list_audit(limit=500) if e.subject_user_id == user.id]
    for entry in (("handover.take", support_staff["sue"]), ("handover.reply", support_staff["sue"]),
                  ("handover.close", support_staff["sue"]), ("console.view_handover", support_staff["tom"]),
                  ("console.view_handover_messages", support_staff["sue"])):
        assert entry in audit, entry
    assert audit.count(("handover.reply", support_staff["sue"])) == 2
    assert not any(staff == support_staff["tom"] and action.startswith("handover.") for action, staff in audit)


async def test_who_may_close_and_the_patient_going_back_to_the_bot(db, pool, shipped_model, runners,
                                                                  tmp_path, support_staff, make_staff):
    running = await service_and_console(Settings(ACNEBOT_DATA_DIR=tmp_path), db, pool, runners)
    patient = await consented_patient(running.app[ENGINE], "web-patient-1")  # the local web chat
    await patient.command("human")
    sue, tom, ada = make_staff(running.console), make_staff(running.console), make_staff(running.console)
    for who, name in ((sue, "sue"), (tom, "tom"), (ada, "ada")):
        await who.login(name)

    first = _handover_id(await tom.page("/handovers"))
    assert "Take this handover in the queue to reply." in await tom.page(f"/handovers/{first}")
    assert (await tom.post(f"/handovers/{first}/close", {})).status == 403  # support: only what they took
    assert 'action="/handovers/%d/close"' % first in await ada.page(f"/handovers/{first}")
    closed = await ada.post(f"/handovers/{first}/close", {})  # an admin may close any
    assert closed.headers["Location"] == f"/handovers?closed={first}&outcome=closed"
    told = [getattr(m, "text", "") for m in running.app[PUSHED].take(patient.user_id)]  # the page polls these
    assert t("en", "person.closed_by_staff") in told

    await patient.command("human")
    second = _handover_id(await sue.page("/handovers"))
    await sue.post(f"/handovers/{second}/take", {})
    await patient.tap("bot")  # "Back to the bot"
    assert (await (await sue.get(f"/handovers/{second}/messages?after=0")).json())["status"] == "closed"
    assert (await sue.post(f"/handovers/{second}/reply", {"text": "Hello?"})).status == 403
    assert "Nobody is waiting" in await sue.page("/handovers")
