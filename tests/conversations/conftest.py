"""Engine tests run on both databases: an SQLite file in tmp_path and PostgreSQL (ACNEBOT_TEST_POSTGRES_URL, default
postgres@127.0.0.1:5432/test, trust auth) in a schema of this test session, dropped at the end; PostgreSQL tests
skip with the reason when the server cannot be reached. Photos are real ones from ../shared/data; the pipeline
is the real one with the shipped model (pipeline.classifier.load())."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from conversations import Engine

from work.pool import WorkerPool
from storage import Database
from storage.migrate import migrate
from tests.pg_support import EmptyDatabase, migrated_schema
from tests.conftest import encode

OpenDb = Callable[[], Awaitable[Database]]


@pytest.fixture(scope="session")
def conversation_pg_schema() -> Iterator[str | BaseException]:
    yield from migrated_schema("conversations_test")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite file, copied for each test (migrating each one costs more than its test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "acnebot.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def open_db(backend: str, tmp_path: Path, conversation_pg_schema: str | BaseException,
                  migrated_sqlite: Path) -> AsyncIterator[OpenDb]:
    """Opens Database objects on one fresh, empty database (several = a restart, or replicas)."""
    database = await EmptyDatabase(backend, tmp_path, conversation_pg_schema, sqlite_template=migrated_sqlite).prepare()
    yield database.open
    await database.close()


@pytest_asyncio.fixture
async def db(open_db: OpenDb) -> Database:
    return await open_db()


@pytest.fixture
def engine(db: Database, pool: WorkerPool) -> Engine:
    return Engine(db, pool)


@pytest.fixture(scope="session")
def dark_photo(face_photo: bytes) -> bytes:
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(face_photo)).convert("RGB"))
    return encode((pixels * 0.12).astype(np.uint8))
