"""PostgreSQL for the tests: one URL, admin statements, and a migrated schema per test session."""
from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

from sqlalchemy import text

from storage.engine import create_engine
from storage.migrate import migrate

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


async def empty_database(backend: str, folder, schema: str | BaseException) -> Database:
    """A Database with no rows: an SQLite file in `folder`, or the session's PostgreSQL `schema` truncated
    (skips the test with the reason when PostgreSQL was unusable)."""
    import pytest

    from storage import Database
    from storage.crypto import new_key_text
    from storage.models import Base

    key = new_key_text()
    if backend == "postgresql":
        if isinstance(schema, BaseException):
            pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {schema!r}")
        tables = ", ".join(f"{schema}.{table.name}" for table in Base.metadata.sorted_tables)
        await admin(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return await Database.open(PG_URL, schema=schema, data_dir=folder, photo_key=key, run_migrations=False)
    return await Database.open(f"sqlite+aiosqlite:///{folder / 'acnebot.db'}", data_dir=folder, photo_key=key)
