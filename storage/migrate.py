"""Schema migrations (Alembic, storage/migrations/), applied programmatically at start-up."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Replicas starting together: the first to take this PostgreSQL advisory lock migrates, the others then
# find the schema at head. (On SQLite, BEGIN IMMEDIATE does the same for processes sharing the file.)
_ADVISORY_LOCK = 0x61636E65  # "acne"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(url_or_engine: str | AsyncEngine, revision: str = "heads", *, schema: str | None = None) -> None:
    """Upgrades the database to `revision` (default: every head, so features that each add a migration on top of
    the same parent need no merge revision); a no-op when it is there already."""
    await _with_connection(url_or_engine, schema, lambda config: command.upgrade(config, revision))


async def downgrade(url_or_engine: str | AsyncEngine, revision: str = "base", *, schema: str | None = None) -> None:
    await _with_connection(url_or_engine, schema, lambda config: command.downgrade(config, revision))


async def _with_connection(url_or_engine: str | AsyncEngine, schema: str | None,
                           action: Callable[[Config], None]) -> None:
    owned = isinstance(url_or_engine, str)
    engine = create_engine(url_or_engine, schema=schema) if isinstance(url_or_engine, str) else url_or_engine
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            await connection.run_sync(_run, action)
    finally:
        if owned:
            await engine.dispose()


def _run(connection: Connection, action: Callable[[Config], None]) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    action(config)
