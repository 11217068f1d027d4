"""Storage tests run on both databases: SQLite (a file in tmp_path) and PostgreSQL (ACNEBOT_TEST_POSTGRES_URL,
default postgres@127.0.0.1:5432/test, trust auth). PostgreSQL tests use a schema of their own per test
session, dropped at the end, and are skipped with a message when the server cannot be reached."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.pg_support import EmptyDatabase, migrated_schema

from storage import Database
from storage.crypto import new_key_text

BACKENDS = ["sqlite", "postgresql"]
OpenDb = Callable[..., Awaitable[Database]]


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str | BaseException]:
    """A migrated schema for this test session, or the reason PostgreSQL is unavailable."""
    yield from migrated_schema("storage_test")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def photo_key() -> str:
    return new_key_text()


@pytest_asyncio.fixture
async def open_db(backend: str, tmp_path: Path, pg_schema: str | BaseException,
                  photo_key: str) -> AsyncIterator[OpenDb]:
    """Opens Database objects on a fresh, migrated, empty database; all of them share it (like replicas)."""
    database = await EmptyDatabase(backend, tmp_path, pg_schema, photo_key=photo_key).prepare()
    yield database.open
    await database.close()


@pytest_asyncio.fixture
async def db(open_db: OpenDb) -> Database:
    return await open_db()


@pytest.fixture
def result_json() -> Callable[..., dict]:
    """A successful result as stored before results named their version, without running the pipeline."""

    def make(score: int = 12, grade: str = "mild", papules: int = 2, refer: bool = False) -> dict:
        regions = {r: {"assessed": r != "chin", "counts": {"comedone": 1, "papule": papules, "pustule": 0,
                                                         "nodule": 0, "spot": 0, "scar": 0, "mole": 0}}
                   for r in ("forehead", "nose", "left_cheek", "right_cheek", "chin")}
        return {"quality": {"ok": True, "reasons": []}, "regions": regions,
                "lesions": [{"region": "forehead", "type": "papule", "x": 10, "y": 20, "w": 8, "h": 8,
                             "confidence": 0.91}],
                "score": score, "grade": grade, "not_assessed": ["chin"],
                "scales": {"hayashi": None, "gags": {"score": 4, "grade": "mild"}, "nice": "mild"},
                "advice": ["Try benzoyl peroxide."], "avoid": [],
                "refer": {"needed": refer, "urgent": False, "reasons": [], "codes": []},
                "grade_personalised": {"grade": "moderate", "reasons": ["scars"], "codes": ["scars"]},
                "notice": "Not a diagnosis.", "model": {"name": "acne-regnet-student", "version": "3"}}

    return make
