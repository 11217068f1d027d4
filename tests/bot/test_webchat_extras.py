"""Issue 9 in the web chat, at HTTP level on the service's application (bot.service.app.create_app): the data export
travels inside its message (base64; built as slow work, so pushed, and collected by the Browser helper as the page
does) and nothing of it stays on the server once collected; a handover's staff replies and the closing notice
reach the browser through its Courier, collected by polling /api/pushed (each once, and only by its own session).
In Chromium: the export is a download link that saves the ZIP."""
from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from bot.service.app import HANDOVERS, create_app
from bot.settings import Settings
from conversations.i18n import t
from storage import Database
from storage.crypto import new_key_text
from tests.bot.test_webchat import Browser, chromium, live_service  # noqa: F401  (fixtures)


@pytest_asyncio.fixture
async def service(tmp_path: Path, pool) -> AsyncIterator[TestServer]:
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'acnebot.db'}", data_dir=tmp_path,
                             photo_key=new_key_text())
    server = TestServer(await create_app(Settings(ACNEBOT_DATA_DIR=tmp_path), db=db, pool=pool))
    await server.start_server()
    yield server
    await server.close()
    await db.close()


async def pushed(browser: Browser) -> list[dict]:
    return (await browser.pushed())["messages"]


@pytest.mark.asyncio
async def test_export_and_a_handover_in_the_web_chat(service):
    alice, bob = await Browser(service).open(), await Browser(service).open()
    try:
        await alice.post("command", "/start")
        await alice.choose(t("en", "consent.accept"))
        await alice.choose(t("en", "menu.data"))
        replies = await alice.choose(t("en", "data.export"))
        (file,) = [m for m in replies if m["type"] == "file"]
        assert file["name"].endswith(".zip") and file["mime_type"] == "application/zip"
        assert file["caption"] == t("en", "export.caption")
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(file["data"])))
        assert archive.namelist() == ["checkins.csv", "summary.html"]  # no check-ins yet: no photos, no chart
        header = next(csv.reader(io.StringIO(archive.read("checkins.csv").decode())))
        assert header[:4] == ["checkin", "date", "score", "grade"] and "forehead.papule" in header
        assert "<img" not in archive.read("summary.html").decode()
        assert replies[-1]["type"] == "choices"  # the menu again

        # talk to a person: the reply reaches this browser's next poll, once, and no other browser's
        await alice.choose(t("en", "menu.human"))
        assert t("en", "person.opened") in alice.texts
        app = service.app
        db = app[HANDOVERS].engine.db
        staff = await db.staff.create_staff("ann", "hash")
        (queued,) = await db.handovers.list_active()
        assert await db.handovers.take(queued.handover.id, staff.id)
        assert (await app[HANDOVERS].reply(queued.user.id, staff.id, "Hello, I'm Ann.")).delivered
        await bob.post("command", "/start")
        assert await pushed(bob) == []
        assert [m["text"] for m in await pushed(alice)] == [t("en", "person.staff_says", text="Hello, I'm Ann.")]
        assert await pushed(alice) == []
        assert (await app[HANDOVERS].close(queued.handover.id, staff.id)).delivered
        notice, menu = await pushed(alice)
        assert notice["text"] == t("en", "person.closed_by_staff") and menu["type"] == "choices"
        refused = await alice.client.get("/api/pushed")  # without the page's header
        assert refused.status == 403
    finally:
        await alice.close()
        await bob.close()


def test_the_export_downloads_in_chromium(chromium, live_service: str, tmp_path: Path):
    from playwright.sync_api import expect

    context = chromium.new_context(locale="en-GB", accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    def tap(label: str) -> None:
        button = page.locator("section.choices").last.get_by_role("button", name=label, exact=True)
        expect(button).to_be_enabled()
        button.click()

    page.goto(live_service)
    page.fill("#text", "/start")
    page.press("#text", "Enter")
    tap(t("en", "consent.accept"))
    tap(t("en", "menu.data"))
    tap(t("en", "data.export"))
    link = page.locator("a.download")
    expect(link).to_have_text(re.compile(r"acnebot-export-\d{4}-\d\d-\d\d\.zip"))
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert zipfile.ZipFile(saved).namelist() == ["checkins.csv", "summary.html"]
    expect(page.locator("section.choices").last).to_contain_text(t("en", "menu.title"))
    assert not problems, problems
    context.close()
