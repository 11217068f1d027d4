"""Fixtures for the staff console: a database (SQLite file or PostgreSQL schema), patients made through the
real Engine with real photos, staff accounts, and the console itself on a real TCP port (port 0).

The console's clock is a FakeClock, so session expiry and lock-out are tested without waiting."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import ClientResponse, ClientSession, CookieJar, web

from bot.console import ConsoleConfig, build_console
from bot.console.passwords import hash_password
from conversations import Engine
from work.pool import WorkerPool
from storage import Database
from storage.columns import utcnow
from tests.conversations.conversation_support import Patient
from tests.pg_support import EmptyDatabase, migrated_schema

CHROMIUM = Path("/usr/bin/chromium")
PASSWORDS = {"ada": "admin password 1", "sam": "support password 1", "sue": "support password 2",
             "tom": "support password 3"}
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def console_pg_schema() -> Iterator[str | BaseException]:
    yield from migrated_schema("console_test")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def db(backend: str, tmp_path: Path, console_pg_schema: str | BaseException) -> AsyncIterator[Database]:
    database = await EmptyDatabase(backend, tmp_path, console_pg_schema).prepare()
    yield await database.open()
    await database.close()


@pytest_asyncio.fixture
async def staff(db: Database) -> dict[str, int]:
    """An admin (ada) and a clinician (sam, who browses patients read-only), as `acnebot staff add` makes them."""
    ada = await db.staff.create_staff("ada", hash_password(PASSWORDS["ada"]), role="admin")
    sam = await db.staff.create_staff("sam", hash_password(PASSWORDS["sam"]), role="clinician")
    return {"ada": ada.id, "sam": sam.id}


@pytest_asyncio.fixture
async def support_staff(db: Database, staff: dict[str, int]) -> dict[str, int]:
    """Two support accounts (sue, tom): the handover queue, and only patients who asked for a person."""
    made = {name: await db.staff.create_staff(name, hash_password(PASSWORDS[name]), role="support")
            for name in ("sue", "tom")}
    return {**staff, **{name: account.id for name, account in made.items()}}


async def checked_in_patient(engine: Engine, user_id: str, *photos: bytes, channel: str = "telegram") -> Patient:
    """A patient who accepted, set weekly reminders and did a whole-face check-in with each real photo (the
    questionnaire answered once, mood weighing heavily: a reason to see a doctor)."""
    patient = Patient(engine, user_id, channel=channel)
    await patient.command("start")
    await patient.tap("yes")
    await patient.command("remind")
    await patient.tap("weekly")
    await patient.tap("evening")
    await patient.text("Europe/Berlin")
    for visit, photo in enumerate(photos):
        await patient.tap("checkin")
        await patient.tap("face")
        await patient.photo(photo)
        assert "Photo received" in patient.texts, patient.texts
        if visit == 0:
            await patient.text("24")
            await patient.tap("a.female")
        while action := patient._asking():  # the second visit keeps the answers: "Nothing changed"
            await patient.tap("a.yes" if "weigh heavily on your mood" in patient.texts else action)
        assert patient.images, patient.texts  # the result, with its annotated photo
    return patient


async def consented_patient(engine: Engine, user_id: str, *, channel: str = "webchat") -> Patient:
    patient = Patient(engine, user_id, channel=channel)
    await patient.command("start")
    await patient.tap("yes")
    return patient


@dataclass
class Console:
    url: str
    clock: FakeClock
    db: Database


StartConsole = Callable[..., Awaitable[Console]]


@pytest_asyncio.fixture
async def start_console(db: Database) -> AsyncIterator[StartConsole]:
    """start_console(**ConsoleConfig fields): the console on 127.0.0.1, port 0, with a fake clock."""
    runners: list[web.AppRunner] = []
    clock = FakeClock()

    async def start(**options) -> Console:
        options.setdefault("secure_cookie", False)
        runner = web.AppRunner(build_console(db, ConsoleConfig(clock=clock, **options)), access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return Console(f"http://{host}:{port}", clock, db)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest_asyncio.fixture
async def console(start_console: StartConsole) -> Console:
    return await start_console()


@pytest_asyncio.fixture
async def engine(db: Database, pool: WorkerPool, shipped_model) -> Engine:
    return Engine(db, pool)


class Staff:
    """A browser-like HTTP client of the console: its own cookie jar, the CSRF token of the last page."""

    def __init__(self, console: Console):
        self.console = console
        self.http = ClientSession(cookie_jar=CookieJar(unsafe=True))  # unsafe: cookies for an IP host
        self.csrf = ""

    async def get(self, path: str, **kwargs) -> ClientResponse:
        kwargs.setdefault("allow_redirects", False)
        response = await self.http.get(self.console.url + path, headers={"Accept": "text/html"}, **kwargs)
        if response.content_type == "text/html":
            found = CSRF_FIELD.search(await response.text())
            self.csrf = found.group(1) if found else self.csrf
        return response

    async def post(self, path: str, data: dict, *, csrf: bool = True) -> ClientResponse:
        form = {**data, "csrf": self.csrf} if csrf else data
        return await self.http.post(self.console.url + path, data=form, allow_redirects=False)

    async def login(self, username: str, password: str | None = None) -> ClientResponse:
        await self.get("/login")
        return await self.post("/login", {"username": username, "password": password or PASSWORDS[username]})

    async def page(self, path: str) -> str:
        response = await self.get(path)
        assert response.status == 200, (path, response.status)
        return await response.text()

    async def close(self) -> None:
        await self.http.close()


@pytest_asyncio.fixture
async def make_staff(console: Console) -> AsyncIterator[Callable[[], Staff]]:
    made: list[Staff] = []

    def make(on: Console | None = None) -> Staff:
        made.append(Staff(on or console))
        return made[-1]

    yield make
    for each in made:
        await each.close()


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh test does, as root)")
    pytest.importorskip("playwright.async_api", reason="playwright (the test extra) is not installed")
    return CHROMIUM


@pytest_asyncio.fixture
async def runners() -> AsyncIterator[list[web.AppRunner]]:
    """What service_and_console started, stopped at the end of the test (console first, as serve() does)."""
    started: list[web.AppRunner] = []
    yield started
    for runner in reversed(started):
        await runner.cleanup()
