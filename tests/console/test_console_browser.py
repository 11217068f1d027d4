"""The staff console in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against the console
on a real port, with patients made through the real Engine and pipeline (SQLite; the HTTP tests cover
PostgreSQL). Screenshots of the main pages at laptop and phone width go to test-artifacts/console/."""
from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.console.conftest import PASSWORDS, checked_in_patient, consented_patient

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
                 "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--metrics-recording-only"]
ARTIFACTS = REPO / "test-artifacts" / "console"
LAPTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_staff_journey_in_chromium(chromium_path, console, staff, engine, db, face_photo, second_face_photo):
    from playwright.async_api import async_playwright, expect

    await checked_in_patient(engine, "alice-4242", face_photo, second_face_photo)
    for handle in ("bob-77", "carol-1"):
        await consented_patient(engine, handle)
    alice = await db.users.find_user("telegram", "alice-4242")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            async def session(viewport: dict, username: str):
                context = await browser.new_context(viewport=viewport, locale="en-GB")
                context.set_default_timeout(30_000)
                page = await context.new_page()
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda error: problems.append(str(error)))
                await page.goto(console.url + "/patients")
                await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
                return context, page

            async def sign_in(page, username: str) -> None:
                await page.fill("input[name=username]", username)
                await page.fill("input[name=password]", PASSWORDS[username])
                await page.click("button[type=submit]")
                await expect(page.get_by_role("heading", name="Patients")).to_be_visible()

            async def shot(page, name: str, full_page: bool = True) -> None:
                await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)

            # Laptop: a support user signs in, searches, opens a patient, the transcript and a photo.
            context, page = await session(LAPTOP, "sam")
            await shot(page, "login-laptop")
            await sign_in(page, "sam")
            await expect(page.locator("table.list tbody tr")).to_have_count(3)
            await shot(page, "patients-laptop")
            await page.fill("input[name=q]", "alice")
            await page.click("text=Search")
            await expect(page.locator("table.list tbody tr")).to_have_count(1)
            await page.click("text=alice-4242")
            await expect(page.get_by_role("heading", name=f"Patient {alice.id}")).to_be_visible()
            await expect(page.locator("article.checkin")).to_have_count(2)
            await expect(page.get_by_text("Delete this patient's data")).to_have_count(0)  # support: no button
            for image in await page.locator("img.annotated, img.chart").all():
                await expect(image).to_have_js_property("complete", True)
                assert await image.evaluate("i => i.naturalWidth") > 100
            await shot(page, "patient-laptop")
            await page.click("text=Transcript")
            await expect(page.locator("li.msg.in").first).to_be_visible()
            await expect(page.locator("li.msg.out").first).to_be_visible()
            thumbs = page.locator("img.thumb")
            await expect(thumbs).to_have_count(2)
            await expect(thumbs.first).to_have_js_property("complete", True)
            assert await thumbs.first.evaluate("i => i.naturalWidth") > 50
            await shot(page, "transcript-laptop", full_page=False)
            async with page.expect_response(lambda r: r.url.endswith(("/photos/1", "/photos/2"))) as photo:
                await thumbs.first.click()
            response = await photo.value
            assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
            await expect(page.locator("img.photo")).to_have_js_property("complete", True)
            assert await page.locator("img.photo").evaluate("i => i.naturalWidth") > 300
            await page.click("text=Log out")
            await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
            photo_url = f"{console.url}/patients/{alice.id}/photos/{(await db.photos.list_photos(alice.id))[0].id}"
            assert (await page.request.get(photo_url, max_redirects=0)).status == 401  # signed out
            await context.close()

            # An admin sees who looked at what.
            context, page = await session(LAPTOP, "ada")
            await sign_in(page, "ada")
            await page.click("text=Audit log")
            rows = page.locator("table.audit tbody tr")
            await expect(rows.filter(has_text="console.view_photo").filter(has_text="sam")).not_to_have_count(0)
            await expect(rows.filter(has_text="console.view_transcript")).not_to_have_count(0)
            await shot(page, "audit-laptop")
            await page.goto(f"{console.url}/patients/{alice.id}")
            await expect(page.get_by_text("Delete this patient's data")).to_be_visible()
            await page.click("text=简体中文")
            await expect(page.get_by_role("heading", name=f"患者 {alice.id}")).to_be_visible()
            await shot(page, "patient-zh-laptop")
            await context.close()

            # Phone width: the same pages in one column.
            context, page = await session(PHONE, "sam")
            await shot(page, "login-phone")
            await sign_in(page, "sam")
            await shot(page, "patients-phone")
            await page.goto(f"{console.url}/patients/{alice.id}")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the patient page is {width}px wide on a phone"
            await shot(page, "patient-phone")
            await page.goto(f"{console.url}/patients/{alice.id}/transcript")
            await shot(page, "transcript-phone", full_page=False)
            await context.close()
        finally:
            await browser.close()
    assert not problems, "\n".join(problems)  # no CSP violation, no script error
