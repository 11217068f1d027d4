"""The database check behind every /healthz."""
from __future__ import annotations

import asyncio

from sqlalchemy import text

from storage import Database

HEALTH_TIMEOUT = 5.0


async def database_problem(db: Database) -> str | None:
    """None when the database answers, else the kind of failure (never its details: they may hold a URL)."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not healthy"
        return type(error).__name__
    return None
