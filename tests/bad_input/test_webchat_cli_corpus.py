"""The bad-input corpus through the web chat (HTTP, a real Engine on SQLite) and the command line
(`acnebot assess`). Web chat: every photo row of cases.py is uploaded, then the hostile requests below; each gets a
catalogue answer or a JSON refusal without internals, and the same browser session then finishes a check-in.
CLI: every photo row gives exit 0 (usable) or 2 with the row's reason code, and never a traceback."""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestServer

from bot.cli import EXIT_OK, EXIT_UNUSABLE, EXIT_USAGE, main
from conversations import Engine
from work.pool import WorkerPool
from conversations.i18n import t
from tests.bad_input.cases import ACCEPTED, EMOJI, IMAGE_CASES, LONG_TEXT, ImageCase
from tests.bot.test_webchat import HEADERS, Browser, _app, _open_db

WEB_LIMIT = 25 * 1024 * 1024


@pytest_asyncio.fixture
async def browser(tmp_path: Path, pool: WorkerPool) -> AsyncIterator[Browser]:
    db = await _open_db(tmp_path)
    server = TestServer(_app(Engine(db, pool)))
    await server.start_server()
    patient = await Browser(server).open()
    await patient.post("command", "/start")
    await patient.choose("Accept")
    await patient.choose("New check-in")
    await patient.choose("One photo of my whole face")
    yield patient
    await patient.close()
    await server.close()
    await db.close()


async def finish_checkin(patient: Browser, face_photo: bytes) -> None:
    if not any(m["type"] == "choices" and "Skip" in [o["label"] for o in m["options"]] for m in patient.replies):
        await patient.post("command", "/checkin")
        await patient.choose("One photo of my whole face")
        await patient.photo(face_photo)
    while any(m["type"] == "choices" and "Skip" in [o["label"] for o in m["options"]] for m in patient.replies):
        await patient.choose("Skip")
    assert t("en", "result.title") in patient.texts and any(m["type"] == "image" for m in patient.replies)


def assert_no_internals(body: str) -> None:
    assert "Traceback" not in body and 'File "' not in body and "Error(" not in body, body


# The pipeline's answers are the same on every channel (the Telegram corpus sends every photo row); the web chat
# gets the rows its own upload path treats differently (size limit, MIME types it never checks) and a few others.
WEB_IMAGE_CASES = [c for c in IMAGE_CASES if c.name in ("50 MB photo", "PNG decompression bomb", "PDF renamed .jpg",
                                                         "animated WebP", "HEIC", "SVG", "five faces")]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", WEB_IMAGE_CASES, ids=[c.name for c in WEB_IMAGE_CASES])
async def test_a_bad_photo_upload_gets_a_clear_answer(case: ImageCase, browser: Browser, face_photo: bytes,
                                                      shipped_model, caplog):
    data = case.make(face_photo)
    if len(data) > WEB_LIMIT:  # refused while it is read, before the engine sees it
        form = FormData()
        form.add_field("id", browser.next_id())
        form.add_field("photo", data, filename=case.file_name, content_type=case.mime)
        response = await browser.client.post("/api/photo", headers=HEADERS, data=form)
        body = await response.text()
        assert response.status == 413 and "larger than 25 MB" in json.loads(body)["error"]
        assert_no_internals(body)
    else:
        await browser.photo(data)
        assert_no_internals(json.dumps(browser.lines))
        expected = t("en", "checkin.face_photo_ok" if case.expect == ACCEPTED else case.expect)
        assert expected in browser.texts, browser.texts
    await finish_checkin(browser, face_photo)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@dataclass(frozen=True)
class WebCase:
    name: str
    path: str
    body: dict | str | bytes | None  # dict: JSON; str/bytes: sent as is
    status: int
    expect: str  # a catalogue key (status 200) or a part of the refusal's "error"
    content_type: str = "application/json"


WEB_CASES = [
    WebCase("emoji-only text", "/api/message", {"kind": "text", "payload": EMOJI}, 200, "unexpected.text"),
    WebCase("10,000 characters of text", "/api/message", {"kind": "text", "payload": LONG_TEXT}, 400, "too long"),
    WebCase("a NUL byte in text", "/api/message", {"kind": "text", "payload": "a\x00b"}, 200, "unexpected.text"),
    WebCase("a lone surrogate in text", "/api/message", '{"id": "ID", "kind": "text", "payload": "caf\\ud800"}',
            200, "unexpected.text"),
    WebCase("a forged choice", "/api/message", {"kind": "choice", "payload": "ffff:face"}, 200, "stale_button"),
    WebCase("a choice of 65 bytes", "/api/message", {"kind": "choice", "payload": "x" * 65}, 400, "too long"),
    WebCase("an unknown kind", "/api/message", {"kind": "photo", "payload": "x"}, 400, "kind must be"),
    WebCase("a payload that is not a string", "/api/message", {"kind": "text", "payload": ["x"]}, 400, "kind must"),
    WebCase("a JSON array", "/api/message", "[1, 2, 3]", 400, "JSON object"),
    WebCase("not JSON at all", "/api/message", b"\xff\xfe<xml/>", 400, "JSON object"),
    WebCase("a message id with a path in it", "/api/message", '{"id": "../../etc/passwd", "kind": "text", '
            '"payload": "hi"}', 400, "id must be"),
    WebCase("a photo that is not multipart", "/api/photo", {"photo": "aGVsbG8="}, 400, "multipart"),
    WebCase("an empty photo upload", "/api/photo", b"", 400, "no photo"),
    WebCase("a text file as the photo", "/api/photo", b"just some words\n", 200, "intake.not_an_image"),
]


async def _send(patient: Browser, case: WebCase):
    client = patient.client
    if case.path == "/api/photo" and isinstance(case.body, bytes):
        form = FormData()
        form.add_field("id", patient.next_id())
        form.add_field("photo", case.body, filename="notes.jpg", content_type="image/jpeg")
        return await client.post(case.path, headers=HEADERS, data=form)
    if isinstance(case.body, dict):
        return await client.post(case.path, headers=HEADERS, json={"id": patient.next_id(), **case.body})
    body = case.body.replace("ID", patient.next_id()) if isinstance(case.body, str) else case.body
    return await client.post(case.path, headers={**HEADERS, "Content-Type": case.content_type}, data=body)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", WEB_CASES, ids=[c.name for c in WEB_CASES])
async def test_a_hostile_web_chat_request_gets_a_clear_answer(case: WebCase, browser: Browser, face_photo: bytes,
                                                              shipped_model, caplog):
    response = await _send(browser, case)
    body = await response.text()
    assert response.status == case.status, body
    assert_no_internals(body)
    if case.status == 200:
        texts = "\n".join(m.get("text", "") for line in body.splitlines() for m in json.loads(line)["messages"])
        assert t("en", case.expect) in texts, texts
    else:
        assert case.expect in json.loads(body)["error"]
    await finish_checkin(browser, face_photo)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- the command line ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", IMAGE_CASES, ids=[c.name for c in IMAGE_CASES])
def test_acnebot_assess_answers_a_bad_photo_with_a_reason(case: ImageCase, tmp_path: Path, face_photo: bytes,
                                                          shipped_model, capsys):
    path = tmp_path / case.file_name
    path.write_bytes(case.make(face_photo))
    status = main(["assess", str(path), "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    result = json.loads(out)
    if case.expect == ACCEPTED:
        assert status == EXIT_OK and result["quality"]["ok"], result
    else:
        assert status == EXIT_UNUSABLE, result
        assert [r["code"] for r in result["quality"]["reasons"]] == [case.expect.split(".", 1)[1]]


@pytest.mark.parametrize("argv, message", [
    (["assess", "{tmp}/missing.jpg"], "cannot read"),
    (["assess", "{tmp}"], "cannot read"),
    (["assess", "{tmp}/face.jpg", "--metadata", "{tmp}/face.jpg"], "cannot read metadata"),
    (["assess", "{tmp}/face.jpg", "--age", "-3"], "age"),
    (["assess", "{tmp}/face.jpg", "--region", "elbow"], "invalid choice"),
], ids=["missing file", "a folder", "a photo as the metadata file", "negative age", "unknown region"])
def test_acnebot_assess_refuses_bad_arguments_without_a_traceback(argv, message, tmp_path: Path, face_photo: bytes,
                                                                  capsys):
    (tmp_path / "face.jpg").write_bytes(face_photo)
    try:
        status = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    except SystemExit as exit_:  # argparse's own refusals: usage and the error on stderr
        status = exit_.code
    assert status == EXIT_USAGE
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in out + err, err
