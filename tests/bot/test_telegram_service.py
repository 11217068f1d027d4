"""The service around the Telegram transport: settings, `acnebot serve` / `python -m bot` as a process (the
local demo without a token; Telegram polling with one), graceful shutdown, per-patient ordering, and logs that
never hold the bot token or what patients wrote."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from bot.service.app import Redact, quiet_libraries
from bot.settings import Settings
from bot.telegram.transport import PerUserUpdateProcessor, split_text
from conversations.i18n import t
from tests.fakes.telegram_api import FakeTelegram
from tests.service_process import free_port

REPO = Path(__file__).resolve().parents[2]


# -- settings --------------------------------------------------------------------------------------------------
def test_settings_defaults_and_the_demo_host(monkeypatch):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "HOST", "PORT", "DATABASE_URL", "ACNEBOT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    demo = Settings()
    assert (demo.host, demo.port, demo.console_host, demo.console_port) == ("127.0.0.1", 8080, "127.0.0.1", 8081)
    assert demo.messengers == [] and demo.data_dir == Path("var")
    assert demo.telegram_base_url == "https://api.telegram.org/bot"
    assert demo.telegram_base_file_url == "https://api.telegram.org/file/bot"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "42:secret-token")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("PORT", "9000")
    live = Settings()
    assert (live.host, live.port, live.messengers, live.webhook_mode) == ("0.0.0.0", 9000, ["telegram"], False)
    assert live.telegram_base_file_url == "http://127.0.0.1:9999/file/bot"
    assert "secret-token" not in repr(live) and "secret-token" not in str(live.model_dump())


def test_webhook_settings(tmp_path):
    common = {"telegram_bot_token": "42:x", "ACNEBOT_DATA_DIR": tmp_path}
    assert Settings(**common, telegram_webhook_url="https://bot.example.org").webhook_path == "/telegram/webhook"
    assert Settings(**common, telegram_webhook_url="https://b.example.org/telegram/a1").webhook_path == "/telegram/a1"
    with pytest.raises(ValidationError, match="under /telegram/"):
        Settings(**common, telegram_webhook_url="https://bot.example.org/hook")
    with pytest.raises(ValidationError):
        Settings(**common, telegram_webhook_secret="spaces are not allowed")
    settings = Settings(**common, telegram_webhook_url="https://bot.example.org")
    secret = settings.webhook_secret()
    assert secret == Settings(**common).webhook_secret()  # generated once, kept in the data folder
    assert (tmp_path / "telegram-webhook.secret").stat().st_mode & 0o077 == 0
    assert Settings(**common, telegram_webhook_secret="given_1").webhook_secret() == "given_1"


# -- ordering ----------------------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_one_patients_updates_in_order_different_patients_at_once():
    from telegram import Update

    processor = PerUserUpdateProcessor(max_concurrent=4)
    log: list[tuple[str, int, str]] = []

    async def handle(user: int, n: int, seconds: float) -> None:
        log.append(("start", user, str(n)))
        await asyncio.sleep(seconds)
        log.append(("end", user, str(n)))

    def update(update_id: int, user: int) -> Update:
        return Update.de_json({"update_id": update_id, "message": {
            "message_id": update_id, "date": 0, "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "P"}, "text": "x"}}, None)

    jobs = [(1, 1, 0.05), (1, 2, 0.0), (2, 1, 0.01), (1, 3, 0.0)]
    started = time.monotonic()
    await asyncio.gather(*(processor.process_update(update(i, user), handle(user, n, s))
                           for i, (user, n, s) in enumerate(jobs)))
    assert time.monotonic() - started < 0.2
    ones = [entry for entry in log if entry[1] == 1]
    assert ones == [("start", 1, "1"), ("end", 1, "1"), ("start", 1, "2"), ("end", 1, "2"), ("start", 1, "3"),
                    ("end", 1, "3")]
    assert log.index(("end", 2, "1")) < log.index(("end", 1, "1"))  # user 2 did not wait for user 1
    assert not processor._lanes.pending()  # every lane released once its updates are done


def test_long_texts_are_split_at_line_breaks():
    parts = split_text("\n".join(["x" * 100] * 100), limit=1000)
    assert all(len(p) <= 1000 for p in parts) and "".join(parts).count("x") == 10_000
    assert split_text("short") == ["short"]


# -- logs ----------------------------------------------------------------------------------------------------------
def test_the_redaction_filter_hides_secrets_in_messages_and_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "GET %s failed", ("https://h/file/bot42:tok/a",),
                               None)
    try:
        raise RuntimeError("url https://h/bot42:tok/getFile")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    Redact(["42:tok"]).filter(record)
    assert "42:tok" not in record.getMessage() and "42:tok" not in (record.exc_text or "")
    assert "<redacted>" in record.getMessage()


@pytest.mark.asyncio
async def test_logs_hold_no_token_and_nothing_patients_wrote(alice, fake, caplog):
    quiet_libraries()
    caplog.set_level(logging.DEBUG)
    await alice.command("/start")
    await alice.press("consent.accept")
    await alice.text("my secret diary entry")
    await alice.press("menu.checkin")
    assert alice.replies
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert fake.token not in logged and fake.token.split(":")[1] not in logged
    assert "my secret diary entry" not in logged and alice.t("menu.title") not in logged


# -- the process: `python -m bot` ------------------------------------------------------------------------------------
def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL", "HOST", "PORT"))}
    return {**env, "ACNEBOT_DATA_DIR": str(tmp_path / "var"), "PORT": str(free_port()), "PYTHONUNBUFFERED": "1",
            **extra}


async def _until_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            try:
                async with session.get(f"{url}/healthz") as response:
                    return await response.json()
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
    raise TimeoutError(f"{url}/healthz did not answer")


async def _stop(process: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, then wait for the exit without blocking the event loop (the fake server lives on it)."""
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.to_thread(process.communicate, timeout=60)
    return process.returncode, err


@pytest.mark.asyncio
async def test_serve_without_a_token_is_the_local_demo_on_sqlite(tmp_path):
    env = _environment(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        health = await _until_healthy(f"http://127.0.0.1:{env['PORT']}", process)
    finally:
        code, err = await _stop(process)
    assert health == {"status": "ok", "database": "ok", "dialect": "sqlite", "telegram": "off"}
    assert code == 0, err
    assert f"http://127.0.0.1:{env['PORT']}/" in err and "local demo" in err and "shutting down" in err
    assert (tmp_path / "var" / "acnebot.db").exists()


@pytest.mark.asyncio
async def test_acnebot_serve_with_a_token_polls_telegram_and_stops_gracefully(tmp_path):
    fake = FakeTelegram()
    await fake.start()
    env = _environment(tmp_path, TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_BASE_URL=fake.url,
                       LOG_LEVEL="DEBUG", HOST="127.0.0.1")
    serve = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main(['serve']))"]
    process = subprocess.Popen(serve, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = await _until_healthy(f"http://127.0.0.1:{env['PORT']}", process)
        dave = fake.user(8484, "Dave")
        await fake.send_command(dave, "/start")
        await fake.wait_for(lambda: any(t("en", "consent.question") in c.text for c in fake.sent(dave)), timeout=30)
    finally:
        code, err = await _stop(process)
        await fake.stop()
    assert health["telegram"] == "polling"
    assert code == 0, err
    assert fake.token not in err and fake.token.split(":")[1] not in err  # DEBUG logging, still no token
    assert "@acnebot_test_bot, long polling" in err


# -- the public application ------------------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_route_hooks_and_the_web_chat_mount_on_the_public_application(db, pool, tmp_path, monkeypatch):
    import importlib.util

    import bot.service.app
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    seen = []

    def hook(app: web.Application, engine) -> None:
        seen.append(engine)
        app.router.add_get("/hello", hello)

    monkeypatch.setattr(bot.service.app, "WEB_ROUTE_HOOKS", [hook])
    app = await bot.service.app.create_app(Settings(ACNEBOT_DATA_DIR=tmp_path), db=db, pool=pool)
    paths = {resource.canonical for resource in app.router.resources()}
    assert {"/healthz", "/hello"} <= paths and seen == [app[bot.service.app.ENGINE]]
    assert not any(path.startswith("/telegram") for path in paths)  # no token: no Telegram
    if importlib.util.find_spec("bot.webchat") is not None:
        assert "/" in paths
