"""Helpers shared by the storage tests (imported by conftest.py and the test modules)."""
from __future__ import annotations

import os
import secrets

import pytest
from tests.pg_support import PG_URL, admin  # noqa: F401  (re-exported for the storage tests)


def new_pg_schema(prefix: str = "storage_test") -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"


def require_pg(pg_schema: str | BaseException) -> str:
    if isinstance(pg_schema, BaseException):
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {pg_schema!r}")
    return pg_schema
