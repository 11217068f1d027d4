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
