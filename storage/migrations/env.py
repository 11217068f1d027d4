"""Alembic environment. `storage.migrate.migrate()` hands in a connection; the `alembic` command line
(alembic.ini at the repository root) opens one from `DATABASE_URL` or the default SQLite file."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from storage.config import database_url
from storage.engine import create_engine
from storage.models import Base


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    asyncio.run(run_from_url())
