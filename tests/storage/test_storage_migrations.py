"""Migrations: the migrated schema is exactly the models' metadata, on both databases; re-running is a no-op,
concurrent start-ups are safe, and the downgrade removes everything."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from storage_support import PG_URL, admin, new_pg_schema, require_pg

from storage.engine import create_engine
from storage.migrate import downgrade, migrate
from storage.models import Base

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def fresh_engine(backend, tmp_path: Path, pg_schema):
    """An engine on an empty database (its own schema on PostgreSQL)."""
    schema = None
    if backend == "postgresql":
        require_pg(pg_schema)
        schema = new_pg_schema("storage_migration")
        await admin(f"CREATE SCHEMA {schema}")
        engine = create_engine(PG_URL, schema=schema)
    else:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    yield engine
    await engine.dispose()
    if schema:
        await admin(f"DROP SCHEMA {schema} CASCADE")


async def schema_diff(engine) -> list:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda c: compare_metadata(
            MigrationContext.configure(c, opts={"compare_type": True, "compare_server_default": True}),
            Base.metadata))


async def table_names(engine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrated_schema_equals_models(fresh_engine):
    await migrate(fresh_engine)
    assert await schema_diff(fresh_engine) == []
    assert await table_names(fresh_engine) == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}


async def test_migrate_twice_concurrently_then_downgrade(fresh_engine):
    await asyncio.gather(migrate(fresh_engine), migrate(fresh_engine))  # two replicas starting at once
    await migrate(fresh_engine)
    assert await schema_diff(fresh_engine) == []
    await downgrade(fresh_engine, "base")
    assert await table_names(fresh_engine) == {"alembic_version"}
