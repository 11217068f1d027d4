"""A handover end to end in Chromium: a Telegram patient (the real python-telegram-bot transport polling the fake
Bot API, tests/fakes/telegram_api.py) asks for a person; two support staff in two browser contexts see it in
the queue; sue takes it, tom sees "taken by sue" and cannot reply; the patient's next message appears on sue's
page without a reload (static/handover.js polling); sue's reply reaches the patient's chat (and, once the
patient blocks the bot, the page says the next one cannot be delivered); closing tells the
patient; the transcript and the audit log show it all. A second patient, with a check-in, waits in the queue
with their grade, date and referral flag. SQLite (the HTTP test covers PostgreSQL). Screenshots at
laptop and phone width go to test-artifacts/console/."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.service.app import ENGINE, TELEGRAM
from bot.settings import Settings
from conversations.i18n import t
from tests.bot.conftest import Patient, Service
from tests.console.conftest import PASSWORDS, checked_in_patient
from tests.console.handover_support import service_and_console
from tests.console.test_console_browser import ARTIFACTS, CHROMIUM_ARGS, LAPTOP, PHONE
from tests.fakes.telegram_api import FakeTelegram

pytestmark = pytest.mark.asyncio
REPLY = "Please stop the new cream for a week and tell me how it goes."


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_handover_with_two_staff_in_chromium(chromium_path, telegram, db, pool, shipped_model,
                                                     runners, tmp_path, support_staff, face_photo):
    from playwright.async_api import async_playwright, expect

    settings = Settings(telegram_bot_token=telegram.token, telegram_api_base_url=telegram.url,
                        telegram_file_base_url=f"{telegram.url}/file/bot", ACNEBOT_DATA_DIR=tmp_path)
    running = await service_and_console(settings, db, pool, runners)
    service = Service(running.app, runners[0], running.url, telegram)
    running.app[TELEGRAM].processor.on_done.append(service._done)
    alice = Patient(service, telegram.user(4242, "Alice", "en"))
    await alice.command("/start")
    await alice.press("consent.accept")
    await alice.command("/human")
    assert alice.t("person.opened") in alice.texts
    user = await db.users.find_user("telegram", "4242")
    bob = await checked_in_patient(running.app[ENGINE], "bob-77", face_photo, channel="webchat")
    await bob.command("human")
    (checkin,) = await db.assessments.list_assessments((await db.users.find_user("webchat", "bob-77")).id)
    url = running.console.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            async def signed_in(username: str, viewport: dict = LAPTOP):
                context = await browser.new_context(viewport=viewport, locale="en-GB")
                context.set_default_timeout(30_000)
                page = await context.new_page()
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda error: problems.append(str(error)))
                await page.goto(url + "/handovers")
                await page.fill("input[name=username]", username)
                await page.fill("input[name=password]", PASSWORDS[username])
                await page.click("button[type=submit]")
                await expect(page.get_by_role("heading", name="Handovers")).to_be_visible()
                return page

            async def shot(page, name: str, full_page: bool = False) -> None:
                await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)

            sue, tom = await signed_in("sue"), await signed_in("tom")
            for page in (sue, tom):
                item = page.locator("li.handover-item").filter(has_text="4242")
                await expect(item).to_have_count(1)
                await expect(item.get_by_role("button", name="Take")).to_be_visible()
                await expect(item).to_contain_text("no check-in yet")
                waiting = page.locator("li.handover-item").filter(has_text="bob-77")
                await expect(waiting).to_contain_text(f"{checkin.grade} Score {checkin.score} · "
                                                      f"{checkin.created_at:%Y-%m-%d}")
                await expect(waiting.locator(".flag")).to_have_count(1 if checkin.referral else 0)
            await shot(tom, "handovers-laptop")

            # sue takes it; tom, on a page that still offers "Take", loses and sees who has it
            alices = "li.handover-item:has-text('4242')"
            await sue.locator(alices).get_by_role("button", name="Take").click()
            await expect(sue.locator("#reply textarea")).to_be_visible()
            await tom.locator(alices).get_by_role("button", name="Take").click()
            await expect(tom.get_by_role("alert")).to_have_text("Already taken by sue.")
            await expect(tom.locator(f"{alices} .badge.taken")).to_have_text("taken by sue")
            await tom.locator(alices).get_by_role("link", name="Open").click()
            await expect(tom.locator("#not-yours")).to_be_visible()
            await expect(tom.locator("#reply")).to_have_count(0)

            # the patient writes: it appears on sue's page (and tom's) without a reload
            await sue.evaluate("window.notReloaded = true")
            await alice.text("It itches since Monday")
            for page in (sue, tom):
                await expect(page.locator("li.msg.in").filter(has_text="It itches since Monday")).to_be_visible()
            assert await sue.evaluate("window.notReloaded === true")

            sent_before = len(telegram.calls)
            await sue.fill("#reply textarea", REPLY)
            await sue.get_by_role("button", name="Send").click()
            await expect(sue.locator("#outcome")).to_have_text("Delivered to the patient.")
            await expect(sue.locator("li.msg.staff").filter(has_text=REPLY)).to_be_visible()
            pushed = telegram.sent(alice.user, since=sent_before)
            assert [c.text for c in pushed] == [t("en", "person.staff_says", text=REPLY)]
            assert pushed[0].chat_id == alice.user.id
            await shot(sue, "handover-laptop", full_page=True)

            phone = await signed_in("sue", PHONE)
            await shot(phone, "handovers-phone", full_page=True)
            await phone.goto(f"{url}/handovers/{_id(sue.url)}")
            await expect(phone.locator("#reply textarea")).to_be_visible()
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the handover page is {width}px wide on a phone"
            await shot(phone, "handover-phone", full_page=True)
            await phone.context.close()

            telegram.fail_next("sendMessage", code=403, retry_after=None,
                               description="Forbidden: bot was blocked by the user")
            await sue.fill("#reply textarea", "Are you still there?")
            await sue.get_by_role("button", name="Send").click()
            await expect(sue.locator("#outcome")).to_contain_text("Cannot be delivered")
            await expect(sue.locator("li.msg.staff").filter(has_text="Are you still there?")).to_be_visible()

            sent_before = len(telegram.calls)
            await sue.get_by_role("button", name="Close").click()
            await expect(sue.get_by_role("status")).to_have_text(
                f"Handover {_id(tom.url)} closed; the patient was told.")
            told = [c.text for c in telegram.sent(alice.user, since=sent_before)]
            assert told[0] == t("en", "person.closed_by_staff"), told
            await expect(tom.locator("#live-note")).to_have_text(
                "The handover was closed; the patient is back with the bot.")
            await expect(sue.locator("li.handover-item")).to_have_count(1)  # bob still waits

            ada = await signed_in("ada")
            await ada.goto(f"{url}/patients/{user.id}/transcript")
            for text in ("It itches since Monday", REPLY, t("en", "person.closed_by_staff")):
                await expect(ada.locator("li.msg").filter(has_text=text).first).to_be_visible()
            await ada.goto(f"{url}/audit")
            rows = ada.locator("table.audit tbody tr")
            for action in ("handover.take", "handover.reply", "handover.close", "console.view_handover"):
                await expect(rows.filter(has_text=action).filter(has_text="sue").first).to_be_visible()
            await expect(rows.filter(has_text="console.view_handover_messages").first).to_be_visible()
        finally:
            await browser.close()
    lost_race = [p for p in problems if "status of 409 (Conflict)" in p]  # tom's take: Chromium logs the 409
    assert len(lost_race) == 1 and len(problems) == 1, "\n".join(problems)  # no CSP violation, no script error


def _id(page_url: str) -> int:
    return int(re.search(r"/handovers/(\d+)", page_url).group(1))
