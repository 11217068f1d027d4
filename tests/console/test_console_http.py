"""The staff console over HTTP (aiohttp client against the console on a real port), on SQLite and PostgreSQL,
with patients made through the real Engine and pipeline: pages, pictures, audit, roles, CSRF, lock-out,
session expiry, headers, languages."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from bot.console.auth import COOKIE, LOGIN_CSRF_COOKIE
from tests.console.conftest import PASSWORDS, checked_in_patient, consented_patient

pytestmark = pytest.mark.asyncio


def _jpeg_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and not image.getexif()  # re-encoded: no EXIF leaves the server
    return image.size


async def test_a_support_user_reviews_a_patient_and_every_view_is_audited(
        console, make_staff, staff, engine, db, face_photo):
    patient = await checked_in_patient(engine, "alice-4242", face_photo)
    await consented_patient(engine, "bob-77")
    user = await db.users.find_user("telegram", "alice-4242")
    saved = (await db.assessments.list_assessments(user.id))[0]

    sam = make_staff()
    assert (await sam.login("sam")).status == 303
    listing = await sam.page("/patients")
    assert "alice-4242" in listing and "bob-77" in listing and "2 patients" in listing
    only_alice = await sam.page("/patients?q=ALICE")
    assert "alice-4242" in only_alice and "bob-77" not in only_alice
    assert "alice-4242" in await sam.page(f"/patients?grade={saved.grade.replace(' ', '+')}&channel=telegram")
    assert "bob-77" not in await sam.page(f"/patients?grade={saved.grade.replace(' ', '+')}")
    assert "No patient matches" in await sam.page("/patients?channel=telegram&from=2999-01-01")
    doctor = await sam.page("/patients?doctor=1")
    assert ("alice-4242" in doctor) == saved.referral and "bob-77" not in doctor

    page = await sam.page(f"/patients/{user.id}")
    assert saved.grade in page and f"Score {saved.score}" in page and "Every week" not in page
    assert "weekly" in page and "19:00 (Europe/Berlin)" in page  # the schedule, in the patient's zone
    assert "age" in page and "24" in page  # profile answers
    assert f"/patients/{user.id}/delete" not in page  # support staff get no delete button
    for region, counts in saved.counts.items():
        assert region.replace("_", " ") in page
    annotated = await sam.get(f"/patients/{user.id}/checkins/{saved.id}/annotated/0")
    assert annotated.status == 200 and annotated.headers["Cache-Control"] == "private, no-store"
    width, height = _jpeg_size(await annotated.read())
    assert width > 300 and height > 300
    chart = await sam.get(f"/patients/{user.id}/trend.png")
    assert chart.status == 200 and (await chart.read())[:8] == b"\x89PNG\r\n\x1a\n"

    transcript = await sam.page(f"/patients/{user.id}/transcript")
    assert 'class="msg in"' in transcript and 'class="msg out"' in transcript
    assert "Photo received" in transcript
    photo_id = saved.photo_ids[0]
    assert f"/patients/{user.id}/photos/{photo_id}?size=thumb" in transcript
    thumb = await sam.get(f"/patients/{user.id}/photos/{photo_id}?size=thumb")
    assert thumb.status == 200 and thumb.headers["Cache-Control"] == "private, no-store"
    assert max(_jpeg_size(await thumb.read())) <= 320
    other = await db.users.find_user("webchat", "bob-77")
    assert (await sam.get(f"/patients/{other.id}/photos/{photo_id}")).status == 404  # not bob's photo

    entries = await db.audit.list_audit()
    seen = {(e.action, e.subject_user_id) for e in entries if e.staff_id == staff["sam"]}
    for action in ("console.view_patient", "console.view_transcript", "console.view_photo",
                   "console.view_annotated", "console.view_trend"):
        assert (action, user.id) in seen, action
    assert ("console.list_patients", None) in seen and ("console.login", None) in seen
    details = json.dumps([e.detail for e in entries])
    assert "24" not in details and saved.grade not in details and "alice" not in details  # no health data

    assert (await sam.get("/audit")).status == 403  # admins only
    ada = make_staff()
    await ada.login("ada")
    audit = await ada.page("/audit")
    assert "console.view_transcript" in audit and "sam" in audit and f"#{user.id}" in audit
    assert "<form" not in audit.split("</header>")[1]  # read-only: nothing to submit but the logout button

    anonymous = make_staff()
    assert (await anonymous.get(f"/patients/{user.id}/photos/{photo_id}?size=thumb")).status in (401, 303)
    refused = await anonymous.http.get(f"{console.url}/patients/{user.id}/photos/{photo_id}")
    assert refused.status == 401  # not a page: no redirect, just refused
    redirect = await anonymous.get(f"/patients/{user.id}")
    assert redirect.status == 303 and redirect.headers["Location"] == f"/login?next=/patients/{user.id}"


async def test_only_an_admin_deletes_a_patient_after_typing_the_id(console, make_staff, staff, engine, db):
    await consented_patient(engine, "carol-1")
    user = await db.users.find_user("webchat", "carol-1")
    sam = make_staff()
    await sam.login("sam")
    await sam.page(f"/patients/{user.id}")
    assert (await sam.get(f"/patients/{user.id}/delete")).status == 403
    refused = await sam.post(f"/patients/{user.id}/delete", {"confirm": str(user.id)})  # a valid CSRF token
    assert refused.status == 403
    assert (await db.erasure.count_rows_for_user(user.id))["users"] == 1

    ada = make_staff()
    await ada.login("ada")
    page = await ada.page(f"/patients/{user.id}")
    assert f'href="/patients/{user.id}/delete"' in page
    assert "Type the patient id" in await ada.page(f"/patients/{user.id}/delete")
    wrong = await ada.post(f"/patients/{user.id}/delete", {"confirm": str(user.id + 1)})
    assert wrong.status == 400 and "does not match" in await wrong.text()
    assert (await db.erasure.count_rows_for_user(user.id))["users"] == 1
    done = await ada.post(f"/patients/{user.id}/delete", {"confirm": str(user.id)})
    assert done.status == 200 and f"Patient {user.id} was deleted" in await done.text()
    assert set((await db.erasure.count_rows_for_user(user.id)).values()) == {0}
    erased = [e for e in await db.audit.list_audit() if e.action == "console.erase_patient"]
    assert erased[0].staff_id == staff["ada"] and erased[0].detail == {"patient": user.id}
    assert (await ada.get(f"/patients/{user.id}")).status == 404


async def test_a_post_without_the_csrf_token_is_refused(console, make_staff, staff, engine, db):
    await consented_patient(engine, "dave-2")
    user = await db.users.find_user("webchat", "dave-2")
    ada = make_staff()
    await ada.login("ada")
    await ada.page("/patients")
    assert (await ada.post(f"/patients/{user.id}/delete", {"confirm": str(user.id)}, csrf=False)).status == 403
    forged = await ada.http.post(f"{console.url}/patients/{user.id}/delete",
                                 data={"confirm": str(user.id), "csrf": "forged"}, allow_redirects=False)
    assert forged.status == 403
    assert (await ada.post("/logout", {}, csrf=False)).status == 403
    assert (await db.erasure.count_rows_for_user(user.id))["users"] == 1
    assert (await ada.get("/patients")).status == 200  # still signed in
    # The sign-in form has its own token (a cookie and a field): without it nobody is signed in.
    fresh = make_staff()
    blind = await fresh.post("/login", {"username": "ada", "password": "admin password 1"}, csrf=False)
    assert blind.status == 403 and COOKIE not in {c.key for c in fresh.http.cookie_jar}
    # Logging out (with the token) ends the session on the server: the old cookie opens nothing.
    assert (await ada.post("/logout", {})).status == 303
    assert (await ada.get("/patients")).status == 303


async def test_wrong_passwords_lock_the_account_for_every_replica(start_console, make_staff, staff):
    console = await start_console(max_failures=3)
    replica = await start_console(max_failures=3)  # another process on the same database
    mallory = make_staff(console)
    for attempt in range(2):
        response = await mallory.login("ada", "guess %d" % attempt)
        assert response.status == 401 and "Wrong username or password" in await response.text()
    third = await mallory.login("ada", "guess 3")
    assert third.status == 429 and "Too many failed sign-ins" in await third.text()
    lockouts = [e for e in await console.db.audit.list_audit() if e.action == "console.lockout"]
    assert [e.staff_id for e in lockouts] == [staff["ada"]]
    ada = make_staff(replica)
    locked = await ada.login("ada")  # the right password, on the other replica, while locked
    assert locked.status == 429
    assert (await make_staff(replica).login("sam")).status == 303  # only that account is locked
    console.clock.advance(minutes=16)
    assert (await ada.login("ada")).status == 303


async def test_sessions_expire_when_idle_and_after_their_lifetime(console, make_staff, staff):
    ada = make_staff()
    await ada.login("ada")
    console.clock.advance(minutes=29)
    assert (await ada.get("/patients")).status == 200  # activity keeps it alive
    console.clock.advance(minutes=31)
    assert (await ada.get("/patients")).status == 303  # idle for longer than 30 minutes
    await ada.login("ada")
    for _ in range(25):  # busy all day: the session ends anyway after 12 hours
        console.clock.advance(minutes=29)
        response = await ada.get("/patients")
    assert response.status == 303


async def test_headers_cookie_flags_and_languages(start_console, make_staff, staff):
    console = await start_console(secure_cookie=True)
    ada = make_staff(console)
    login_page = await ada.get("/login")
    csp = login_page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert login_page.headers["X-Content-Type-Options"] == "nosniff"
    assert login_page.headers["Referrer-Policy"] == "no-referrer"
    form_cookie = login_page.cookies[LOGIN_CSRF_COOKIE]
    assert form_cookie["secure"] and form_cookie["httponly"] and form_cookie["samesite"] == "Strict"
    # A client keeps Secure cookies for https only; send the form's cookie as a browser on https would.
    signed_in = await ada.http.post(console.url + "/login", allow_redirects=False,
                                    headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={form_cookie.value}"},
                                    data={"username": "ada", "password": PASSWORDS["ada"], "csrf": ada.csrf})
    cookie = next(v for v in signed_in.headers.getall("Set-Cookie") if v.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    assert signed_in.headers["Cache-Control"] == "no-store"

    plain = await start_console()
    chinese = await make_staff(plain).http.get(plain.url + "/login", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert "员工登录" in await chinese.text()
    reader = make_staff(plain)
    switched = await reader.get("/lang/zh?next=/login")
    assert switched.status == 303 and switched.headers["Location"] == "/login"
    assert "员工登录" in await reader.page("/login")
    assert (await reader.get("/lang/zh?next=//evil.example/")).headers["Location"] == "/patients"
    css = await reader.get("/static/console.css")
    assert css.status == 200 and css.headers.get("Cache-Control") != "no-store"


async def test_the_patient_list_pages_and_keeps_the_search(start_console, make_staff, staff, engine):
    console = await start_console(page_size=2)
    for handle in ("erin-1", "erin-2", "erin-3", "frank-1"):
        await consented_patient(engine, handle)
    ada = make_staff(console)
    await ada.login("ada")
    first = await ada.page("/patients?q=erin&channel=webchat")
    assert "3 patients" in first and "Page 1 of 2" in first and first.count('class="handle"') == 2
    assert 'href="/patients?q=erin&amp;channel=webchat&amp;page=2"' in first and 'rel="prev"' not in first
    second = await ada.page("/patients?q=erin&channel=webchat&page=2")
    assert "Page 2 of 2" in second and second.count('class="handle"') == 1 and 'rel="next"' not in second
    assert "erin-1" in second  # newest first: the first one made is last
    today = console.clock().strftime("%Y-%m-%d")
    assert "4 patients" in await ada.page(f"/patients?from={today}&to={today}")
    assert "No patient matches" in await ada.page("/patients?to=2000-01-01")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_console_route_hooks_mount_routes_anyone_may_open(db, monkeypatch):
    from aiohttp import ClientSession, web

    import bot.service.app
    from bot.console import PUBLIC
    from bot.settings import Settings

    async def probe(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def hook(app: web.Application, database) -> None:
        assert database is db
        app.router.add_get("/probe", probe)
        app[PUBLIC].add("/probe")

    monkeypatch.setattr(bot.service.app, "CONSOLE_ROUTE_HOOKS", [hook])
    app = bot.service.app.create_console_app(db, Settings(console_host="127.0.0.1"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = "http://127.0.0.1:%d" % runner.addresses[0][1]
        async with ClientSession() as anyone:
            probed = await anyone.get(url + "/probe")
            assert probed.status == 200 and probed.headers["X-Content-Type-Options"] == "nosniff"
            # the scraper and the container's health check need no login either
            health = await anyone.get(url + "/healthz")
            assert health.status == 200 and (await health.json())["database"] == "ok"
            metrics = await anyone.get(url + "/metrics")
            assert metrics.status == 200 and "acnebot_updates_handled_total" in await metrics.text()
            assert (await anyone.get(url + "/patients", allow_redirects=False)).status == 401
    finally:
        await runner.cleanup()



async def test_a_region_left_out_says_why_on_the_patient_page(console, make_staff, staff, engine, db):
    """A clinical profile: the forehead and the cheek it shows are assessed; the staff see why the rest is not."""
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "acne04" / "images" / "levle1_155.jpg"
    if not path.is_file():
        pytest.skip(f"ACNE04 photos not found at {path.parent}")
    await checked_in_patient(engine, "pat-155", path.read_bytes())
    user = await db.users.find_user("telegram", "pat-155")
    (saved,) = await db.assessments.list_assessments(user.id)
    assert {r for r, counts in saved.counts.items() if counts is None} == {"nose", "right_cheek", "chin"}
    sam = make_staff()
    await sam.login("sam")
    page = await sam.page(f"/patients/{user.id}")
    assert page.count("not assessed (head turned too far)") == 3
