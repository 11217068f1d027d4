"""Small SQL helpers shared by the repositories."""
from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite


def insert(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing/_update` on both SQLite and PostgreSQL."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
