"""`acnebot rotate-photo-key` and `acnebot purge-photos` against a real SQLite file and a real PostgreSQL
database (a fresh one per test, created and dropped here), with the service's environment variables."""
from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from bot.cli import main
from storage import Database, PhotoKeyError
from storage.columns import utcnow
from storage.crypto import new_key_text
from storage.models import MessageLog, Photo
from storage.engine import create_engine
from tests.pg_support import PG_URL

PHOTOS = [b"first photo " * 40, b"second photo " * 40, b"third photo " * 40]


async def autocommit(sql: str) -> None:
    """CREATE/DROP DATABASE, which PostgreSQL runs outside transactions only."""
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'acnebot.db'}"
        return
    name = f"acnebot_cli_{secrets.token_hex(4)}"
    try:
        asyncio.run(autocommit(f"CREATE DATABASE {name}"))
    except Exception as error:
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {error!r}")
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(autocommit(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture
def env(monkeypatch, tmp_path, database_url):
    for name in ("ACNEBOT_PHOTO_KEY", "ACNEBOT_PHOTO_OLD_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ACNEBOT_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


async def store_photos(url: str, data_dir, key: str | None, ages_days=(0, 0, 0)) -> list[int]:
    async with await Database.open(url, data_dir=data_dir, photo_key=key) as db:
        user = await db.users.get_or_create_user("telegram", "7", "en")
        ids = [await db.photos.save_photo(user.id, data) for data in PHOTOS]
        for photo_id, age in zip(ids, ages_days):
            await db.messages.log_message(user.id, "in", "photo", photo_id=photo_id)
            async with db.engine.begin() as connection:
                await connection.execute(update(Photo).where(Photo.id == photo_id)
                                         .values(created_at=utcnow() - timedelta(days=age)))
        return ids


async def read_all(url: str, data_dir, key: str, ids: list[int]) -> list[bytes]:
    async with await Database.open(url, data_dir=data_dir, photo_key=key) as db:
        return [await db.photos.load_photo(i) for i in ids]


def test_rotate_photo_key_from_env_then_only_the_new_key_is_needed(env, tmp_path, database_url, capsys):
    old, new = new_key_text(), new_key_text()
    ids = asyncio.run(store_photos(database_url, tmp_path / "data", old))
    env.setenv("ACNEBOT_PHOTO_KEY", new)
    assert main(["rotate-photo-key"]) == 1  # the old key was not given: nothing can be read
    assert "ACNEBOT_PHOTO_OLD_KEYS" in capsys.readouterr().err
    env.setenv("ACNEBOT_PHOTO_OLD_KEYS", f"{new_key_text()}, {old}")
    assert main(["rotate-photo-key", "--batch", "2"]) == 0
    assert "3 photos re-encrypted" in capsys.readouterr().out
    assert main(["rotate-photo-key"]) == 0  # again: nothing left to do
    assert "0 photos re-encrypted" in capsys.readouterr().out
    assert asyncio.run(read_all(database_url, tmp_path / "data", new, ids)) == PHOTOS
    with pytest.raises(PhotoKeyError):
        asyncio.run(read_all(database_url, tmp_path / "data", old, ids))


def test_rotate_from_the_generated_key_file_to_a_new_key_file(env, tmp_path, database_url, capsys):
    ids = asyncio.run(store_photos(database_url, tmp_path / "data", None))  # key generated into data/photo.key
    new = new_key_text()
    (tmp_path / "new.key").write_text(new + "\n")
    assert main(["rotate-photo-key", "--new-key", str(tmp_path / "new.key")]) == 0
    assert asyncio.run(read_all(database_url, tmp_path / "empty", new, ids)) == PHOTOS
    (tmp_path / "bad.key").write_text("c2hvcnQ")
    assert main(["rotate-photo-key", "--new-key", str(tmp_path / "bad.key")]) == 1
    assert "32 bytes" in capsys.readouterr().err


def test_purge_photos_keeps_the_message_log_with_the_photo_link_unset(env, tmp_path, database_url, capsys):
    key = new_key_text()
    env.setenv("ACNEBOT_PHOTO_KEY", key)
    ids = asyncio.run(store_photos(database_url, tmp_path / "data", key, ages_days=(400, 31, 1)))
    assert main(["purge-photos", "--older-than", "30"]) == 0
    assert "2 photos older than 30 days deleted" in capsys.readouterr().out

    async def left():
        async with await Database.open(database_url, data_dir=tmp_path / "data", photo_key=key) as db:
            async with db.engine.connect() as connection:
                photos = (await connection.execute(select(Photo.id))).scalars().all()
                links = (await connection.execute(select(MessageLog.photo_id).order_by(MessageLog.id))).scalars()
                return sorted(photos), list(links)

    assert asyncio.run(left()) == ([ids[2]], [None, None, ids[2]])
