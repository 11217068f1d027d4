"""PostgreSQL for the tests: one URL, admin statements, and a migrated schema per test session."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.engine import create_engine
from storage import Database
from storage.crypto import new_key_text
from storage.migrate import migrate
from storage.models import Base

PG_URL = os.environ.get("ACNEBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def admin(sql: str) -> None:
    """Runs one statement on PostgreSQL outside any test schema."""
    engine = create_engine(PG_URL, connect_args={"timeout": 5})
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def migrated_schema(prefix: str) -> Iterator[str | BaseException]:
    """Body of a session fixture: yields a fresh migrated schema, or the error when PostgreSQL is unusable."""
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(admin(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # refused, timed out, authentication failed: unusable either way
        yield error
        return
    asyncio.run(migrate(PG_URL, schema=schema))
    yield schema
    asyncio.run(admin(f"DROP SCHEMA {schema} CASCADE"))


class EmptyDatabase:
    """One empty database for a test, and the Database objects opened on it (several share it, like replicas or
    a restart): an SQLite file in `folder` (copied from `sqlite_template` when given, else migrated on first
    open), or the session's PostgreSQL `schema` truncated. `prepare()` skips the test, saying why, when
    PostgreSQL was unusable; `close()` closes every Database opened."""

    def __init__(self, backend: str, folder: Path, schema: str | BaseException, *, photo_key: str | None = None,
                 sqlite_template: Path | None = None):
        self.backend, self.folder, self.schema = backend, folder, schema
        self.photo_key = photo_key or new_key_text()
        self.sqlite_template = sqlite_template
        self.opened: list[Database] = []

    async def prepare(self) -> EmptyDatabase:
        if self.backend == "postgresql":
            if isinstance(self.schema, BaseException):
                pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {self.schema!r}")
            tables = ", ".join(f"{self.schema}.{table.name}" for table in Base.metadata.sorted_tables)
            await admin(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        elif self.sqlite_template is not None:
            shutil.copyfile(self.sqlite_template, self.folder / "acnebot.db")
        return self

    async def open(self, key: str | None = None, old_keys: str | None = None) -> Database:
        if self.backend == "postgresql":
            url, options = PG_URL, {"schema": self.schema, "run_migrations": False}
        else:
            url = f"sqlite+aiosqlite:///{self.folder / 'acnebot.db'}"
            options = {"run_migrations": self.sqlite_template is None}
        database = await Database.open(url, data_dir=self.folder, photo_key=key or self.photo_key,
                                       old_photo_keys=old_keys, **options)
        self.opened.append(database)
        return database

    async def close(self) -> None:
        for database in self.opened:
            await database.close()
