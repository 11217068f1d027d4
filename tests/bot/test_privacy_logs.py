"""No health data in the logs: a whole patient journey on Telegram (the fake Bot API server, a real photo, the
real pipeline, the questionnaire with distinctive answers, reminders, history, /delete) with the service's own
logging set-up (bot.service.app.configure_logging) at LOG_LEVEL=DEBUG in JSON. Every record any logger emits (root,
every library) is captured, formatted and raw, and none holds the answers, the texts sent either way, the
photo's bytes (raw, hex or base64) or a secret."""
from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from bot.service.app import configure_logging
from bot.settings import Settings
from storage.crypto import new_key_text

pytestmark = pytest.mark.asyncio


class Everything(logging.Handler):
    """Keeps every record reaching the root logger, unformatted."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        parts = []
        for r in self.records:
            parts += [r.getMessage(), repr(r.args), r.exc_text or "", repr(getattr(r, "__dict__", {}))]
            if r.exc_info and r.exc_info[1] is not None:
                parts.append(logging.Formatter().formatException(r.exc_info))
        return "\n".join(parts)


@pytest.fixture
def service_logging():
    """The service's logging at DEBUG in JSON, into a buffer; the test's own logging restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    out = io.StringIO()
    key = new_key_text()
    configure_logging(Settings(log_level="DEBUG", log_format="json", photo_key=key), stream=out)
    raw = Everything()
    root.addHandler(raw)
    yield out, raw, key
    root.handlers[:], root.level = saved_handlers, saved_level
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


def photo_traces(photo: bytes) -> list[str]:
    middle = photo[len(photo) // 2:len(photo) // 2 + 48]
    return [base64.b64encode(middle)[4:40].decode(), base64.urlsafe_b64encode(middle)[4:40].decode(),
            middle.hex()[:40], repr(middle)[10:40]]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_whole_journey_at_debug_logs_no_health_data(service_logging, alice, fake, db, face_photo,
                                                           shipped_model):
    out, raw, photo_key = service_logging
    await alice.command("/start")
    await alice.press("consent.accept")
    sent_texts = list(alice.texts.split("\n"))
    await alice.press("menu.reminders")
    await alice.press("reminders.cadence.weekly")
    await alice.press("reminders.time_evening")
    await alice.text("Europe/Berlin")
    await alice.text("my diary: the rash on my neck itches at night")
    await alice.press("menu.checkin")
    await alice.press("checkin.mode_face")
    await alice.photo(face_photo)
    assert alice.t("checkin.face_photo_ok") in alice.texts
    await alice.text("37 years, born in Tromsø")
    await alice.press("q.sex.female")
    await alice.press("q.allergies.nitroimidazole")
    await alice.press("q.allergies.cephalosporin")
    await alice.press("questions.done")
    while alice.t("questions.skip") in alice.buttons:
        if alice.t("q.pregnancy") in alice.texts:
            await alice.press("q.pregnancy.breastfeeding")
        elif alice.t("q.symptoms") in alice.texts:
            await alice.press("q.symptoms.joint_pain")
            await alice.press("questions.done")
        else:
            await alice.press("questions.skip")
    result = alice.texts
    assert "(score " in result
    await alice.press("menu.history")
    await alice.command("/data")
    answers_shown = alice.texts
    assert alice.t("q.allergies.nitroimidazole") in answers_shown
    await alice.command("/delete")
    await alice.press("delete.yes")
    assert alice.t("delete.done") in alice.texts

    emitted = out.getvalue()
    lines = [json.loads(line) for line in emitted.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert len(raw.records) >= len(lines) > 5  # DEBUG records of the service were written
    everything = raw.text()

    health = ["rash on my neck", "Tromsø", "37 years", *photo_traces(face_photo)]
    health += [alice.t(key) for key in ("q.allergies.nitroimidazole", "q.allergies.cephalosporin",
                                        "q.symptoms.joint_pain", "q.pregnancy.breastfeeding")]
    health += ["nitroimidazole", "cephalosporin", "joint_pain", "breastfeeding"]  # the stored answer codes
    health += [line for line in result.splitlines() if len(line) > 25][:8]  # what the bot told her
    health += [line for line in sent_texts if len(line) > 25][:3]
    leaks = [needle for needle in health if needle in everything or needle in emitted]
    assert leaks == []
    secrets = [fake.token, fake.token.split(":")[1], photo_key]
    assert [s for s in secrets if s in emitted] == []
