"""The bad-input corpus through Telegram: the real python-telegram-bot, engine, storage and pipeline against the
fake Bot API (tests/fakes/telegram_api.py). Each row of tests/bad_input/cases.py is sent at its step; the answer
must be the row's catalogue text, nothing may fail (no error logged, no refused Bot API call, no traceback in a
reply), and afterwards the same patient finishes a check-in with a good photo."""
from __future__ import annotations

import logging

import pytest

from bot.telegram.transport import MAX_DOWNLOAD
from conversations.i18n import t
from tests.bad_input.cases import ACCEPTED, IMAGE_CASES, TELEGRAM_CASES, ImageCase, TelegramCase
from tests.bot.test_telegram import answer_questions, assert_result
from tests.fakes.telegram_api import ApiError

pytestmark = pytest.mark.asyncio
POSTGRES_TOO = [pytest.param(case, "postgresql", id=f"{case.name}-postgresql") for case in TELEGRAM_CASES
                if case.postgres]


async def at_face_photo(patient) -> None:
    await patient.command("/start")
    await patient.press("consent.accept")
    await patient.press("menu.checkin")
    await patient.press("checkin.mode_face")
    assert patient.t("checkin.face_photo") in patient.texts


async def at_age_question(patient, face_photo: bytes) -> None:
    await at_face_photo(patient)
    await patient.photo(face_photo)
    assert patient.t("q.age") in patient.texts


def assert_clean(patient, fake, caplog) -> None:
    """No traceback or internal detail in what the patient saw, no refused Bot API call, no error logged."""
    for call in fake.sent(patient.user):
        assert "Traceback" not in call.text and 'File "' not in call.text, call.text
    refused = [(c.method, c.result.description) for c in fake.calls if isinstance(c.result, ApiError)]
    assert not refused, refused
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


async def finish_checkin(patient, face_photo: bytes) -> None:
    """The state survived: a check-in from wherever the patient is, to the result."""
    if patient.t("questions.skip") not in patient.buttons:
        await patient.command("/checkin")
        await patient.press("checkin.mode_face")
        await patient.photo(face_photo)
    await answer_questions(patient)
    assert_result(patient)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("case", IMAGE_CASES, ids=[c.name for c in IMAGE_CASES])
async def test_a_bad_photo_file_gets_a_clear_answer(case: ImageCase, backend, service, fake, make_patient, face_photo,
                                                    shipped_model, caplog):
    patient = make_patient(service)
    await at_face_photo(patient)
    data = case.make(face_photo)
    await patient.document(data, mime_type=case.mime, file_name=case.file_name)
    if case.expect == ACCEPTED:
        assert patient.t("checkin.face_photo_ok") in patient.texts, patient.texts
    else:
        key = "unexpected.other.too_large" if len(data) > MAX_DOWNLOAD else case.expect
        assert patient.t(key) in patient.texts, patient.texts
        assert patient.t("checkin.face_photo_ok") not in patient.texts
    await finish_checkin(patient, face_photo)
    assert_clean(patient, fake, caplog)


@pytest.mark.parametrize("case, backend", [*[pytest.param(c, "sqlite", id=c.name) for c in TELEGRAM_CASES],
                                           *POSTGRES_TOO])
async def test_a_hostile_update_gets_a_clear_answer(case: TelegramCase, backend, service, fake, make_patient,
                                                    face_photo, shipped_model, caplog):
    patient = make_patient(service)
    if case.where == "photo":
        await at_face_photo(patient)
    elif case.where == "question":
        await at_age_question(patient, face_photo)
    before = len(fake.calls)
    await case.act(patient, fake)
    shown = "\n".join(c.text for c in fake.sent(patient.user, since=before))
    for key in case.expect:
        assert t("en", key).split("{")[0] in shown, shown
    if not case.expect:
        assert not fake.sent(patient.user, since=before), shown
    if case.where.startswith("new"):
        await patient.press("consent.accept")
    await finish_checkin(patient, face_photo)
    assert_clean(patient, fake, caplog)
