"""The Bot API misbehaving: flood control (429 with retry_after), server errors (5xx) and requests that time out,
on the calls a check-in makes (sending, downloading the photo, answering a button). Each reply still arrives,
once, and the patient finishes the check-in."""
from __future__ import annotations

import logging

import pytest

from tests.bot.test_telegram import answer_questions, assert_result

pytestmark = pytest.mark.asyncio
TIMEOUT = 0.5  # TELEGRAM_TIMEOUT for these tests; a stalled call hangs longer than this


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("fault", [
    ("sendMessage", dict(code=429, retry_after=0)),
    ("sendMessage", dict(code=502, retry_after=None, description="Bad Gateway")),
    ("sendMessage", "stall"),
    ("getFile", "stall"),
    ("getFile", dict(code=503, retry_after=None, description="Service Unavailable")),
    ("sendPhoto", "stall"),
    ("editMessageText", dict(code=502, retry_after=None, description="Bad Gateway")),
], ids=["429 on sendMessage", "502 on sendMessage", "sendMessage times out", "getFile times out", "503 on getFile",
        "sendPhoto times out", "502 on editMessageText"])
async def test_a_check_in_survives_a_misbehaving_bot_api(fault, backend, start_service, make_patient, fake,
                                                        face_photo, shipped_model, caplog):
    method, how = fault
    service = await start_service(telegram_timeout=TIMEOUT)
    patient = make_patient(service)
    await patient.command("/start")
    await patient.press("consent.accept")
    await patient.press("menu.checkin")
    await patient.press("checkin.mode_face")
    for _ in range(2):  # the fault twice in the check-in: within the attempts call_api makes
        if how == "stall":
            fake.stall_next(method, TIMEOUT * 4)
        else:
            fake.fail_next(method, **how)
    await patient.photo(face_photo)
    await answer_questions(patient, toggle=method == "editMessageText")
    assert_result(patient)
    failed = [c for c in fake.called(method) if c.result is not None and not isinstance(c.result, (dict, bool))]
    assert len(failed) == 2, "the faults were not hit"
    sent = [(c.method, c.text, c.buttons) for c in fake.sent(patient.user) if c.method != "sendChatAction"]
    assert not [a for a, b in zip(sent, sent[1:]) if a == b]  # a retried call that had landed shows up twice
    assert any("attempt" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
