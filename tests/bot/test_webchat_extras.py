"""The data export in the web chat: the ZIP travels inside the reply (base64) and nothing of it stays on the
server; the page offers it as a download. Also: a handover cannot be pushed to the web chat (no Courier)."""
from __future__ import annotations

import base64
import csv
import io
import zipfile

import pytest

from bot.handover import HandoverService
from conversations.i18n import t
from tests.bot.test_webchat import Browser, engine, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio


async def test_export_is_a_download_in_the_reply(server, engine):
    browser = await Browser(server).open()
    try:
        await browser.post("command", "/start")
        await browser.choose(t("en", "consent.accept"))
        await browser.choose(t("en", "menu.data"))
        replies = await browser.choose(t("en", "data.export"))
        (file,) = [m for m in replies if m["type"] == "file"]
        assert file["name"].endswith(".zip") and file["mime_type"] == "application/zip"
        assert file["caption"] == t("en", "export.caption")
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(file["data"])))
        assert archive.namelist() == ["checkins.csv", "summary.html"]  # no check-ins yet: no photos, no chart
        header = next(csv.reader(io.StringIO(archive.read("checkins.csv").decode())))
        assert header[:4] == ["checkin", "date", "score", "grade"] and "forehead.papule" in header
        assert "<img" not in archive.read("summary.html").decode()
        assert replies[-1]["type"] == "choices"  # the menu again

        # talking to a person works here too, but a staff reply cannot be pushed to a browser
        await browser.post("command", "/human")
        staff = await engine.db.staff.create_staff("ann", "hash")
        (queued,) = await engine.db.handovers.list_active()
        assert queued.user.channel == "webchat"
        assert await engine.db.handovers.take(queued.handover.id, staff.id)
        delivery = await HandoverService(engine, {}).reply(queued.user.id, staff.id, "Hello")
        assert (delivery.delivered, delivery.problem) == (False, "cannot be delivered")
    finally:
        await browser.close()
