"""Operations: /metrics and /healthz (bot.service.metrics.setup on an application of the test's own, as the console
will mount them), fed by a real patient on Telegram; JSON or text logs behind the redaction filter; the
housekeeping loop that create_app starts."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import update

from bot.service import metrics
from bot.service.app import configure_logging
from bot.service.housekeeping import HOUSEKEEPING
from bot.settings import Settings
from storage import Database
from storage.columns import utcnow
from storage.crypto import PhotoCipher, parse_key, new_key_text
from storage.engine import create_engine
from storage.models import Photo



async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


def sample(text: str, name: str, **labels: str) -> float:
    """A sample's value from the Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_metrics_count_a_patients_updates_and_assessment(alice, db, face_photo, shipped_model):
    app = web.Application()
    metrics.setup(app, db)
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as http:
            async def scrape() -> str:
                async with http.get(f"{url}/metrics") as response:
                    assert response.status == 200 and response.content_type == "text/plain"
                    return await response.text()

            before = await scrape()
            await alice.command("/start")
            await alice.press("consent.accept")
            await alice.press("menu.checkin")
            await alice.press("checkin.mode_face")
            await alice.photo(face_photo)
            while alice.t("questions.skip") in alice.buttons:
                await alice.press("questions.skip")
            assert "(score " in alice.texts
            after = await scrape()

            async with http.get(f"{url}/healthz") as response:
                assert response.status == 200 and (await response.json())["database"] == "ok"
    finally:
        await runner.cleanup()

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("acnebot_updates_handled_total", channel="telegram", kind="command") == 1
    assert grew("acnebot_updates_handled_total", channel="telegram", kind="photo") == 1
    assert grew("acnebot_updates_handled_total", channel="telegram", kind="choice") >= 4
    assert grew("acnebot_assessments_total", outcome="ok") == 1
    assert grew("acnebot_assessment_seconds_count") == 1 and grew("acnebot_assessment_seconds_sum") > 0
    assert grew("acnebot_turn_seconds_count", kind="photo") == 1
    assert grew("acnebot_turn_seconds_bucket", kind="choice", le="+Inf") >= 4
    assert "acnebot_assessment_queue_depth 0.0" in after


@pytest.mark.asyncio
async def test_healthz_says_503_when_the_database_does_not_answer(tmp_path):
    unreachable = Database(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none",
                                         connect_args={"timeout": 2}), PhotoCipher(parse_key(new_key_text())))
    app = web.Application()
    metrics.setup(app, unreachable)
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
            body = await response.json()
    finally:
        await runner.cleanup()
        await unreachable.close()
    assert response.status == 503 and body["status"] == "error" and "nobody" not in json.dumps(body)


def test_json_and_text_logs_keep_redacting_secrets(tmp_path):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for fmt in ("json", "text", "auto"):
            out = io.StringIO()  # not a terminal: "auto" means JSON
            configure_logging(Settings(log_format=fmt, telegram_bot_token="42:very-secret"), stream=out)
            log = logging.getLogger("acnebot.test")
            log.info("calling %s", "https://api/bot42:very-secret/getMe")
            try:
                raise RuntimeError("failed at https://api/bot42:very-secret/sendMessage")
            except RuntimeError:
                log.exception("request failed")
            written = out.getvalue()
            assert "very-secret" not in written and "<redacted>/sendMessage" in written
            if fmt == "text":
                assert " INFO acnebot.test: calling https://api/bot<redacted>/getMe" in written
            else:
                first, second = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
                assert (first["level"], first["logger"], first["message"]) == \
                    ("INFO", "acnebot.test", "calling https://api/bot<redacted>/getMe")
                assert "RuntimeError" in second["exc_info"] and first["time"]
    finally:
        root.handlers[:], root.level = saved


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_create_app_runs_the_retention_loop(start_service, make_patient, db):
    user = await db.users.get_or_create_user("telegram", "1", "en")
    old = await db.photos.save_photo(user.id, b"an old photo")
    kept = await db.photos.save_photo(user.id, b"a recent photo")
    async with db.engine.begin() as connection:
        await connection.execute(update(Photo).where(Photo.id == old).values(created_at=utcnow() - timedelta(days=31)))
    service = await start_service(photo_retention_days=30)
    housekeeping = service.app[HOUSEKEEPING]
    await asyncio.wait_for(housekeeping.swept.wait(), 30)
    assert housekeeping.last["photos"] == 1
    assert [p.id for p in await db.photos.list_photos(user.id)] == [kept]
    patient = make_patient(service)
    await patient.command("/start")  # the consent text tells the configured period
    assert "30 days" in patient.texts and "180 days" not in patient.texts
