"""Helpers shared by the storage tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import os
import secrets

import pytest
from sqlalchemy import text

from storage.engine import create_engine

PG_URL = os.environ.get("ACNEBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def admin(sql: str) -> None:
    """Runs one statement on PostgreSQL outside any test schema."""
    engine = create_engine(PG_URL, connect_args={"timeout": 5})
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


def new_pg_schema(prefix: str = "storage_test") -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


def require_pg(pg_schema: str | BaseException) -> str:
    if isinstance(pg_schema, BaseException):
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {pg_schema!r}")
    return pg_schema
