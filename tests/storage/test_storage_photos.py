"""Photos are encrypted at rest: the database never holds the plaintext, and a wrong key fails clearly."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import select, update

from storage import NotFound, PhotoKeyError
from storage.crypto import new_key_text
from storage.models import Photo

pytestmark = pytest.mark.asyncio

PLAINTEXT = b"\xff\xd8\xff\xe0JFIF-not-really-a-jpeg-" + os.urandom(4000) + b"-face-of-the-patient"


async def raw_row(db, photo_id: int) -> tuple[bytes, bytes]:
    async with db.engine.connect() as connection:
        row = (await connection.execute(select(Photo.ciphertext, Photo.nonce).where(Photo.id == photo_id))).one()
    return bytes(row.ciphertext), bytes(row.nonce)


async def test_round_trip_and_ciphertext_hides_plaintext(db):
    user = await db.users.get_or_create_user("telegram", "1", "en")
    photo_id = await db.photos.save_photo(user.id, PLAINTEXT, "forehead")
    assert await db.photos.load_photo(photo_id) == PLAINTEXT
    ciphertext, nonce = await raw_row(db, photo_id)
    assert len(nonce) == 12
    assert PLAINTEXT not in ciphertext
    for start in range(0, len(PLAINTEXT) - 16, 16):  # not even a 16-byte window of it
        assert PLAINTEXT[start:start + 16] not in ciphertext
    info = await db.photos.photo_info(photo_id)
    assert (info.user_id, info.region, info.size) == (user.id, "forehead", len(PLAINTEXT))
    assert len(info.sha256) == 64 and info.key_id


async def test_same_bytes_stored_once_per_user_and_owner_checked(db):
    alice = await db.users.get_or_create_user("telegram", "a", "en")
    bob = await db.users.get_or_create_user("telegram", "b", "en")
    first = await db.photos.save_photo(alice.id, PLAINTEXT, "chin")
    assert await db.photos.save_photo(alice.id, PLAINTEXT, "nose") == first
    bobs = await db.photos.save_photo(bob.id, PLAINTEXT)
    assert bobs != first
    assert [p.id for p in await db.photos.list_photos(alice.id)] == [first]
    with pytest.raises(NotFound):
        await db.photos.load_photo(first, user_id=bob.id)
    with pytest.raises(NotFound):
        await db.photos.load_photo(10_000)


async def test_one_photo_is_found_placed_and_deleted_only_for_its_owner(db):
    alice = await db.users.get_or_create_user("telegram", "a", "en")
    bob = await db.users.get_or_create_user("telegram", "b", "en")
    photo_id, new = await db.photos.store_photo(alice.id, PLAINTEXT)
    assert new
    assert await db.photos.store_photo(alice.id, PLAINTEXT) == (photo_id, False)
    bobs, bobs_new = await db.photos.store_photo(bob.id, PLAINTEXT)  # another user's same bytes are his own photo
    assert bobs_new and bobs != photo_id
    with pytest.raises(NotFound):
        await db.photos.set_region(photo_id, bob.id, "chin")
    await db.photos.set_region(photo_id, alice.id, "left_cheek")
    assert (await db.photos.photo_info(photo_id)).region == "left_cheek"
    assert not await db.photos.delete_photo(photo_id, bob.id)  # someone else's: untouched
    assert await db.photos.load_photo(photo_id, alice.id) == PLAINTEXT
    assert await db.photos.delete_photo(photo_id, alice.id)
    assert await db.photos.list_photos(alice.id) == [] and not await db.photos.delete_photo(photo_id, alice.id)


async def test_wrong_key_fails_clearly(db, open_db):
    user = await db.users.get_or_create_user("telegram", "1", "en")
    photo_id = await db.photos.save_photo(user.id, PLAINTEXT)
    other_key = await open_db(key=new_key_text())
    with pytest.raises(PhotoKeyError, match=rf"photo {photo_id} was encrypted with key \w+, which is not configured"):
        await other_key.photos.load_photo(photo_id)


async def test_altered_or_moved_ciphertext_fails_authentication(db):
    alice = await db.users.get_or_create_user("telegram", "a", "en")
    bob = await db.users.get_or_create_user("telegram", "b", "en")
    photo_id = await db.photos.save_photo(alice.id, PLAINTEXT)
    ciphertext, _ = await raw_row(db, photo_id)
    async with db.engine.begin() as connection:
        await connection.execute(update(Photo).where(Photo.id == photo_id)
                                 .values(ciphertext=bytes([ciphertext[0] ^ 1]) + ciphertext[1:]))
    with pytest.raises(PhotoKeyError, match="failed authentication"):
        await db.photos.load_photo(photo_id)
    async with db.engine.begin() as connection:  # a valid ciphertext put on another user's row
        await connection.execute(update(Photo).where(Photo.id == photo_id).values(ciphertext=ciphertext,
                                                                                   user_id=bob.id))
    with pytest.raises(PhotoKeyError, match="failed authentication"):
        await db.photos.load_photo(photo_id)
