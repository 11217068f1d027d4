"""Fixtures for the Telegram tests: the fake Bot API server, the service (bot.service.app.create_app) pointed at it on
SQLite or PostgreSQL, and a scripted patient who sends updates and reads what the fake server received.

PostgreSQL: ACNEBOT_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432/test, trust auth), in a schema of this
test session, dropped at the end; skipped with the reason when the server cannot be reached."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from bot.service.app import TELEGRAM, create_app
from bot.settings import Settings
from work.pool import WorkerPool
from conversations.i18n import catalogue, t
from storage import Database
from tests.pg_support import EmptyDatabase, migrated_schema
from tests.fakes.telegram_api import Call, FakeTelegram, FakeUser

HANDLED_TIMEOUT = 90.0  # seconds for one update, assessment included (2 shared cores)


# -- databases -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def telegram_pg_schema() -> Iterator[str | BaseException]:
    yield from migrated_schema("telegram_test")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def open_db(backend: str, tmp_path: Path,
                  telegram_pg_schema: str | BaseException) -> AsyncIterator[Callable[[], Awaitable[Database]]]:
    """Opens Database objects on one fresh, empty database (several = replicas); closed at the end."""
    database = await EmptyDatabase(backend, tmp_path, telegram_pg_schema).prepare()
    yield database.open
    await database.close()


@pytest_asyncio.fixture
async def db(open_db: Callable[[], Awaitable[Database]]) -> Database:
    return await open_db()



# -- the fake Bot API and the service --------------------------------------------------------------------------
@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@dataclass
class Service:
    """The running service (bot.service.app.create_app) on a local port, talking to the fake Bot API."""

    app: web.Application
    runner: web.AppRunner
    url: str
    fake: FakeTelegram
    handled: set[int] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def transport(self):
        return self.app[TELEGRAM]

    def _done(self, update: object) -> None:
        self.handled.add(getattr(update, "update_id", -1))
        self._changed.set()

    async def wait_handled(self, update_id: int, timeout: float = HANDLED_TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while update_id not in self.handled:
                self._changed.clear()
                await self._changed.wait()


StartService = Callable[..., Awaitable[Service]]


@pytest_asyncio.fixture
async def start_service(fake: FakeTelegram, db: Database, pool: WorkerPool,
                        tmp_path: Path) -> AsyncIterator[StartService]:
    """start_service(webhook=False, **settings): the service on a free port, polling the fake or taking its
    webhook POSTs; stopped (gracefully, as on SIGTERM) at the end of the test."""
    started: list[web.AppRunner] = []

    async def start(webhook: bool = False, **overrides) -> Service:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.url,
                            telegram_file_base_url=f"{fake.url}/file/bot", ACNEBOT_DATA_DIR=tmp_path,
                            telegram_webhook_url=f"{url}/telegram/webhook" if webhook else None, **overrides)
        app = await create_app(settings, db=db, pool=pool)
        runner = web.AppRunner(app, access_log=None)
        service = Service(app, runner, url, fake)
        app[TELEGRAM].processor.on_done.append(service._done)
        await runner.setup()
        started.append(runner)
        await web.SockSite(runner, sock).start()
        return service

    yield start
    for runner in reversed(started):
        await runner.cleanup()


@pytest_asyncio.fixture
async def service(start_service: StartService) -> Service:
    return await start_service()


# -- the scripted patient --------------------------------------------------------------------------------------
class Patient:
    """A Telegram user sending updates through the fake server and reading what the bot sent back."""

    def __init__(self, service: Service, user: FakeUser):
        self.service, self.fake, self.user = service, service.fake, user
        self.replies: list[Call] = []  # what the bot sent to the chat while handling the last update
        self.actions = 0  # updates the patient sent (taps, texts, photos): what a check-in costs them
        self.locale = user.language_code or "en"

    def t(self, key: str, **values: object) -> str:
        return t(self.locale, key, **values)

    async def deliver(self, update: dict, **kwargs) -> int | None:
        mark = len(self.fake.calls)
        self.actions += 1
        status = await self.fake.deliver(update, **kwargs)
        if status in (None, 200):
            await self.service.wait_handled(update["update_id"])
        self.replies = self.fake.sent(self.user, since=mark)
        return status

    async def command(self, command: str) -> list[Call]:
        await self.deliver(self.fake.command_update(self.user, command))
        return self.replies

    async def text(self, text: str) -> list[Call]:
        await self.deliver(self.fake.text_update(self.user, text))
        return self.replies

    async def photo(self, data: bytes, **kwargs) -> list[Call]:
        await self.deliver(self.fake.photo_update(self.user, data, **kwargs))
        return self.replies

    async def document(self, data: bytes, **kwargs) -> list[Call]:
        await self.deliver(self.fake.document_update(self.user, data, **kwargs))
        return self.replies

    async def sticker(self) -> list[Call]:
        await self.deliver(self.fake.sticker_update(self.user))
        return self.replies

    async def press(self, label_key: str, **values: object) -> list[Call]:
        """Taps the button labelled with this catalogue text (a key like "menu.checkin"), this label, or this
        callback data."""
        label = self.t(label_key, **values) if label_key in catalogue("en") else label_key
        await self.deliver(self.fake.press_update(self.user, label))
        return self.replies

    async def to_the_last_question(self, photo: bytes) -> None:
        """From the menu: a full-face check-in with `photo`, every question skipped but the last."""
        await self.press("menu.checkin")
        await self.press("checkin.mode_face")
        await self.photo(photo)
        while self.t("q.distress") not in self.texts:
            await self.press("questions.skip")

    @property
    def texts(self) -> str:
        return "\n".join(call.text for call in self.replies)

    @property
    def buttons(self) -> list[str]:
        """The labels of the last keyboard the bot showed."""
        keyboards = self.fake.keyboards(self.user)
        return [label for label, _ in keyboards[-1]] if keyboards else []

    @property
    def keyboard(self) -> list[tuple[str, str]]:
        """The last keyboard the bot showed, as (label, callback data) pairs."""
        keyboards = self.fake.keyboards(self.user)
        return keyboards[-1] if keyboards else []

    def sent(self, method: str) -> list[Call]:
        return [call for call in self.replies if call.method == method]


@pytest.fixture
def make_patient(fake: FakeTelegram) -> Callable[..., Patient]:
    """make_patient(service, user_id=4242, name="Alice", language_code="en")."""

    def make(service: Service, user_id: int = 4242, name: str = "Alice",
             language_code: str | None = "en") -> Patient:
        return Patient(service, fake.user(user_id, name, language_code))
    return make


@pytest.fixture
def alice(service: Service, make_patient: Callable[..., Patient]) -> Patient:
    return make_patient(service)
