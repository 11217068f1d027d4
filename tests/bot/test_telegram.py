"""The patient's journey on Telegram, end to end: the real python-telegram-bot, engine, storage and pipeline
against a local fake Bot API server (tests/fakes/telegram_api.py), on SQLite and PostgreSQL. The assertions are
on what the fake server received; buttons are pressed by the labels the patient sees (the locale catalogues)."""
from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import pytest

from conversations import COMMAND_MENU
from conversations.i18n import t
from tests.worker_support import every_worker_busy

pytestmark = pytest.mark.asyncio
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCORE = re.compile(r"\(score (\d+)\)")


def template_head(key: str, locale: str = "en") -> str:
    """The fixed start of a catalogue text with placeholders ("Change since {before}..." -> "Change since ")."""
    return t(locale, key).split("{")[0]


async def answer_questions(patient, *, age: str | None = None, toggle: bool = False) -> None:
    """Answers the questionnaire until the result: the age typed, one option of the first multiple-choice
    question toggled (the prompt is edited in place) when asked, everything else skipped (or kept as on file)."""
    toggled = not toggle
    while skip := next((k for k in ("questions.skip", "questions.skip_keep") if patient.t(k) in patient.buttons), None):
        if age is not None and patient.t("q.age") in patient.texts:
            await patient.text(age)
            age = None
        elif not toggled and patient.t("questions.done") in patient.buttons:
            option = patient.buttons[0]
            await patient.press(option)
            (edit,) = patient.sent("editMessageText")
            assert edit.buttons[0][0] == "✓ " + option and not patient.sent("sendMessage")
            toggled = True
            await patient.press("questions.done")
        else:
            await patient.press(skip)


def assert_result(patient, *, photos: int = 1) -> None:
    """The result as Telegram shows it: analysing text and chat action first, then one photo captioned with the
    grade, score, counts and notice (or, when the caption is over 1,024 characters, the photo and then that text
    as one message), the visit's other photos, and one message with the advice and the menu."""
    calls = [c.method for c in patient.replies]
    analysing = next(i for i, c in enumerate(patient.replies) if patient.t("result.analysing") in c.text)
    assert calls[analysing + 1] == "sendChatAction" and patient.replies[analysing + 1].params["action"] == "typing"
    first = calls.index("sendPhoto")
    pictures = patient.sent("sendPhoto")
    assert len(pictures) == photos
    for picture in pictures:
        (data,) = picture.files.values()
        assert data[:2] == b"\xff\xd8"
    after = patient.replies[first + 1:]
    if pictures[0].text:  # the caption fits
        result = pictures[0].text
        assert len(result) <= 1024
    else:
        result = after.pop(0).text
        assert after and len(result) > 1024
    assert SCORE.search(result) and patient.t("result.findings_title") in result
    assert "not a medical diagnosis" in result
    assert [c.method for c in after] == ["sendPhoto"] * (photos - 1) + ["sendMessage"]  # no third to seventh
    assert after[-1].text.startswith(patient.t("result.advice_title"))
    assert patient.buttons[0] == patient.t("menu.checkin")  # back at the menu


async def test_patient_journey(service, fake, alice, db, face_photo, second_face_photo, closeup_photo, shipped_model,
                               backend):
    # /start: what the bot does and does not do, and consent
    await alice.command("/start")
    assert template_head("consent.intro") in alice.texts and alice.t("consent.question") in alice.texts
    assert alice.buttons[:2] == [alice.t("consent.accept"), alice.t("consent.decline")]
    await alice.press("consent.accept")
    (answered,) = fake.called("answerCallbackQuery")[-1:]
    assert alice.replies and fake.calls.index(answered) < fake.calls.index(alice.replies[0])  # answered first
    assert alice.t("menu.title") in alice.texts

    # 1. a full-face check-in, recorded as a transcript
    started = time.monotonic()
    await alice.press("menu.checkin")
    await alice.press("checkin.mode_face")
    assert alice.t("checkin.face_photo") in alice.texts
    photo = fake.photo_update(alice.user, face_photo)
    await alice.deliver(photo)
    thumbnail, largest = photo["message"]["photo"]
    assert [c.params["file_id"] for c in fake.called("getFile")] == [largest["file_id"]]  # the largest size only
    assert alice.t("checkin.face_photo_ok") in alice.texts and alice.t("q.age") in alice.texts
    await answer_questions(alice, age="24", toggle=True)
    assert_result(alice)
    transcript = fake.transcript(alice.user, since=started)
    if backend == "sqlite":
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "telegram_transcript.txt").write_text(
            "A full-face check-in on Telegram as the fake Bot API server recorded it (<- the patient's updates, "
            "-> the bot's Bot API calls; photo bytes left out)\n\n" + "\n".join(transcript) + "\n",
            encoding="utf-8")
    assert any(line.startswith("-> sendPhoto") for line in transcript)

    # 2. a region check-in: the forehead as an uncompressed photo (a document), the other areas skipped
    await alice.press("menu.checkin")
    await alice.press("checkin.mode_regions")
    assert alice.t("region.forehead") in alice.texts
    await alice.document(closeup_photo, mime_type="image/jpeg", file_name="IMG_4031.JPG")
    assert fake.downloads[-1].startswith("documents/")
    assert alice.t("checkin.region_photo_ok", region="Forehead") in alice.texts
    for _ in range(4):  # nose, left cheek, right cheek, chin: "no acne here"
        await alice.press("checkin.skip_region")
    assert alice.t("q.age") not in alice.texts  # profile questions are asked once
    await alice.press("questions.nothing_changed")
    assert_result(alice)
    assert alice.t("result.region_not_assessed_no_photo", region="Nose") in alice.texts
    assert template_head("compare.header") in alice.texts  # the change since the first check-in

    # 3. a second full-face visit, sent as an album of two photos: the change since last time
    await alice.press("menu.checkin")
    await alice.press("checkin.mode_face")
    await alice.photo(second_face_photo, media_group_id="13579")
    # another face than the first check-in's, posed otherwise: said before the analysis; the album's second
    # photo arrives while that is asked
    assert alice.t("checkin.pose_go_on") in alice.buttons
    await alice.photo(face_photo, media_group_id="13579")
    assert alice.t("checkin.face_photo_ok") in alice.texts
    await alice.press("checkin.pose_go_on")
    await alice.press("questions.update")
    await answer_questions(alice)
    assert_result(alice, photos=2)
    change = alice.texts.split(template_head("compare.header"))[1]
    assert re.match(r"\d{4}-\d\d-\d\d \(to \d{4}-\d\d-\d\d\): score \d+ → \d+", change), change
    verdicts = [alice.t(f"compare.verdict.{v}") for v in ("better", "same", "worse", "mixed")]
    assert change.splitlines()[1] in verdicts, change  # better, the same or worse, on the line under the change

    # history: the list, the trend chart, and a side-by-side of two check-ins
    await alice.press("menu.history")
    assert alice.t("history.title", n=3) in alice.texts
    (chart,) = alice.sent("sendPhoto")
    assert next(iter(chart.files.values())).startswith(b"\x89PNG") and chart.text == alice.t("history.chart_caption")
    await alice.press("history.compare")
    assert alice.t("history.pick_first") in alice.texts
    *visits, back = alice.keyboard  # newest first; labels may repeat, so pressed by their data
    assert back[0] == alice.t("common.back_to_menu") and len(visits) == 3
    await alice.press(visits[-1][1])  # the first check-in
    assert alice.t("history.pick_second") in alice.texts and visits[-1][1] not in dict(alice.keyboard).values()
    await alice.press(alice.keyboard[0][1])  # the latest one
    assert template_head("compare.header") in alice.texts
    (side_by_side,) = alice.sent("sendPhoto")
    assert next(iter(side_by_side.files.values()))[:2] == b"\xff\xd8"

    # deletion, after a confirmation
    user = await db.users.find_user("telegram", str(alice.user.id))
    assert len(await db.assessments.list_assessments(user.id)) == 3
    await alice.command("/delete")
    assert alice.t("delete.confirm") in alice.texts
    await alice.press("delete.yes")
    assert alice.t("delete.done") in alice.texts
    assert await db.users.find_user("telegram", str(alice.user.id)) is None


async def check_in(patient, start, photo: bytes, answer) -> int:
    """One full-face check-in from the tap that starts it to the result: the patient's actions (updates sent)."""
    patient.actions = 0
    await start()
    await patient.press("checkin.mode_face")
    await patient.photo(photo)
    await answer()
    assert SCORE.search(patient.texts), patient.texts
    return patient.actions


async def test_a_second_check_in_takes_at_most_five_actions(service, fake, alice, db, face_photo, shipped_model):
    await alice.command("/start")
    await alice.press("consent.accept")
    first = await check_in(alice, lambda: alice.press("menu.checkin"), face_photo,
                           lambda: answer_questions(alice, age="31"))
    # The next one starts from the reminder's button, days later: photo, then "anything new?" -> nothing changed.
    user = await db.users.find_user("telegram", str(alice.user.id))
    reminder = await service.transport.engine.reminder(user.id)
    await service.transport.deliver(str(alice.user.id), reminder, purpose="reminder")
    second = await check_in(alice, lambda: alice.press("reminders.start_checkin"), face_photo,  # the same pose
                            lambda: alice.press("questions.nothing_changed"))
    print(f"telegram: first check-in {first} actions, second {second}")
    assert second <= 5 < first, (first, second)
    saved = await db.assessments.list_assessments(user.id)
    assert saved[-1].result["answers"] == saved[0].result["answers"]  # kept with one tap


# -- the transport, without the pipeline -------------------------------------------------------------------------
async def test_healthz_and_the_command_menus_in_english_and_chinese(service, fake, backend):
    async with aiohttp.ClientSession() as session, session.get(f"{service.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "database": "ok", "dialect": backend,
                                          "telegram": "polling"}
    english, chinese = fake.commands[""], fake.commands["zh"]
    assert [c["command"] for c in english] == [c["command"] for c in chinese] == list(COMMAND_MENU)
    assert english[0]["description"] == t("en", "command.checkin")
    assert chinese[0]["description"] == t("zh", "command.checkin") != english[0]["description"]
    assert fake.called("getMe") and fake.called("deleteWebhook")  # polling starts by removing any webhook


async def test_the_client_language_picks_the_texts(service, make_patient):
    wang = make_patient(service, 5151, "王", "zh-hans")
    await wang.command("/start")
    assert t("zh", "consent.question") in wang.texts and wang.buttons[0] == t("zh", "consent.accept")


async def test_stickers_voice_locations_and_files_get_a_helpful_answer(alice, fake):
    await alice.command("/start")
    await alice.press("consent.accept")
    await alice.press("menu.checkin")
    await alice.press("checkin.mode_face")
    for send in (alice.sticker, lambda: alice.deliver(fake.voice_update(alice.user)),
                 lambda: alice.deliver(fake.location_update(alice.user)),
                 lambda: alice.document(b"%PDF-1.4", mime_type="application/pdf", file_name="report.pdf")):
        await send()
        assert alice.t("unexpected.other") in alice.texts and alice.t("expects.photo") in alice.texts
    assert not fake.called("getFile")  # nothing downloaded but photos
    await alice.text("here it comes")
    assert alice.t("unexpected.text") in alice.texts


async def test_a_message_delivered_twice_is_answered_once(alice, fake):
    await alice.command("/start")
    press = fake.press_update(alice.user, alice.t("consent.accept"))
    await alice.deliver(press)
    assert alice.t("menu.title") in alice.texts
    await alice.deliver(fake.again(press))  # the same press under a new update_id
    assert alice.replies == []
    text = fake.text_update(alice.user, "hello")
    await alice.deliver(text)
    assert alice.replies
    await alice.deliver(fake.again(text))
    assert alice.replies == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # raised inside the library
async def test_flood_control_is_waited_out(alice, fake):
    fake.fail_next("sendMessage", retry_after=1)
    await alice.command("/start")
    assert alice.t("consent.question") in alice.texts
    refused, *accepted = fake.called("sendMessage")
    assert refused.result.code == 429 and accepted


async def test_webhook_mode_checks_the_secret_and_answers_a_redelivery_once(start_service, make_patient, fake,
                                                                            tmp_path):
    service = await start_service(webhook=True)
    (registered,) = fake.called("setWebhook")
    assert registered.params["url"] == f"{service.url}/telegram/webhook"
    secret = registered.params["secret_token"]
    assert secret and (tmp_path / "telegram-webhook.secret").read_text().strip() == secret
    bob = make_patient(service, 6262, "Bob")
    start = fake.command_update(bob.user, "/start")
    assert await bob.deliver(start, secret="not-the-secret") == 403
    assert await bob.deliver(start, secret="") == 403  # no header at all
    assert bob.replies == []
    assert await bob.deliver(start) == 200
    assert bob.t("consent.question") in bob.texts
    assert await bob.deliver(start) == 200  # Telegram delivering the same update again
    assert bob.replies == []
    assert not fake.called("getUpdates")


async def test_replicas_behind_a_load_balancer_share_the_patient(start_service, make_patient, fake):
    first, second = await start_service(webhook=True), await start_service(webhook=True)
    carol = make_patient(first, 7373, "Carol")
    await carol.deliver(fake.command_update(carol.user, "/start"), url=f"{first.url}/telegram/webhook")
    carol.service = second
    await carol.deliver(fake.press_update(carol.user, carol.t("consent.accept")), url=f"{second.url}/telegram/webhook")
    assert carol.t("menu.title") in carol.texts
    carol.service = first
    press = fake.press_update(carol.user, carol.t("menu.checkin"))
    await carol.deliver(press, url=f"{first.url}/telegram/webhook")
    assert carol.t("checkin.mode") in carol.texts
    carol.service = second
    await carol.deliver(press, url=f"{second.url}/telegram/webhook")  # redelivered to the other replica
    assert carol.replies == []


async def test_a_photo_that_cannot_be_downloaded_is_answered(alice, fake):
    await alice.command("/start")
    await alice.press("consent.accept")
    await alice.press("menu.checkin")
    await alice.press("checkin.mode_face")
    fake.max_file_bytes = 1000  # getFile refuses: "file is too big"
    await alice.document(b"\xff\xd8\xff" + bytes(5000), mime_type="image/jpeg")
    assert fake.called("getFile")[-1].result.code == 400
    assert alice.t("unexpected.other.too_large") in alice.texts and alice.t("expects.photo") in alice.texts


async def test_stopping_lets_the_update_in_hand_finish(service, alice, fake, monkeypatch):
    engine = service.transport.engine
    handle = engine.handle

    async def slow_handle(event, on_progress=None, **options):
        await asyncio.sleep(0.5)  # an assessment, say
        return await handle(event, on_progress, **options)

    monkeypatch.setattr(engine, "handle", slow_handle)
    update = fake.command_update(alice.user, "/start")
    await fake.deliver(update)
    await fake.wait_for(lambda: update["update_id"] in fake.delivered)
    await service.runner.cleanup()  # what SIGTERM does
    assert any(alice.t("consent.question") in call.text for call in fake.sent(alice.user))


async def test_a_patient_waiting_for_an_assessment_holds_no_update_slot(service, make_patient, fake, pool,
                                                                        face_photo, shipped_model, tmp_path):
    """With one update slot and the only worker busy, Alice's assessment waits; her turn has answered and left,
    so Bob's /help is answered meanwhile. Alice's result is pushed once, when a worker is free."""
    service.transport.processor._slots = asyncio.BoundedSemaphore(1)
    alice, bob = make_patient(service, 4401, "Alice"), make_patient(service, 4402, "Bob")
    for patient in (alice, bob):
        await patient.command("/start")
        await patient.press("consent.accept")
    await alice.to_the_last_question(face_photo)
    async with every_worker_busy(pool, tmp_path / "go"):
        update = fake.press_update(alice.user, alice.t("questions.skip"))
        await fake.deliver(update)
        await fake.wait_for(lambda: alice.t("result.analysing") in " ".join(c.text for c in fake.sent(alice.user)))
        mark = len(fake.calls)
        await bob.command("/help")
        assert bob.t("help").splitlines()[0] in bob.texts
        assert not [c for c in fake.sent(alice.user, mark) if alice.t("result.title") in c.text]
    results = lambda: [c for c in fake.sent(alice.user) if alice.t("result.title") in c.text]
    await fake.wait_for(results, timeout=90)
    await service.wait_handled(update["update_id"])
    assert len(results()) == 1 and fake.sent(alice.user)[-1].buttons  # the result once, then the menu


async def test_a_webhook_post_is_answered_before_the_assessment_it_asked_for(start_service, make_patient, fake, pool,
                                                                             face_photo, shipped_model, tmp_path):
    """Telegram keeps a webhook POST open until it is answered: the last answer's POST is answered once the turn
    has said "analysing", while the only worker is still busy; the result is pushed once, later."""
    service = await start_service(webhook=True)
    alice = make_patient(service, 4403, "Alice")
    await alice.command("/start")
    await alice.press("consent.accept")
    await alice.to_the_last_question(face_photo)
    result_sent = lambda: [c for c in fake.sent(alice.user) if alice.t("result.title") in c.text]
    async with every_worker_busy(pool, tmp_path / "go"):
        assert await fake.deliver(fake.press_update(alice.user, alice.t("questions.skip"))) == 200
        assert alice.t("result.analysing") in " ".join(c.text for c in fake.sent(alice.user))
        assert not result_sent()
    await fake.wait_for(lambda: result_sent() and fake.sent(alice.user)[-1].buttons, timeout=90)  # then the menu
    assert len(result_sent()) == 1
