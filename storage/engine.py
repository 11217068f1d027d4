"""An async engine for a URL, with the per-database settings the repositories rely on."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session

SQLITE_BUSY_TIMEOUT_MS = 10_000
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def create_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """`sqlite+aiosqlite:///path` (folder created) or `postgresql+asyncpg://...`.

    `schema` (PostgreSQL only) puts every table in that schema by way of the search path, so several
    deployments or test runs can share one database.
    """
    parsed = make_url(url)
    # Error messages would otherwise quote statement parameters: answers, message texts, photo bytes.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if schema:
            raise ValueError("schema is a PostgreSQL option")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if schema:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"invalid schema name {schema!r}")
            connect_args = kwargs.setdefault("connect_args", {})
            connect_args.setdefault("server_settings", {})["search_path"] = schema
        kwargs.setdefault("pool_pre_ping", True)  # survives a PostgreSQL restart
        return create_async_engine(parsed, **kwargs)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r} (use sqlite+aiosqlite or "
                     "postgresql+asyncpg)")


class FreshSession(Session):
    """Repositories update with Core statements and copy rows into dataclasses at once, so the identity map
    must never answer a read with an object loaded before an UPDATE in the same unit."""


@event.listens_for(FreshSession, "do_orm_execute")
def _always_fresh(state: ORMExecuteState) -> None:
    if state.is_select:
        state.update_execution_options(populate_existing=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=FreshSession)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's implicit BEGIN is deferred: a transaction that reads first and writes later can then
        # fail at once with SQLITE_BUSY instead of waiting. We emit BEGIN IMMEDIATE ourselves (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
