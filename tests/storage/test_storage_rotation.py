"""Photo key rotation: every photo ends under the new key, readable with it alone; interrupted runs resume;
a second run (or one running beside the service) changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.crypto import key_id, new_key_text, parse_key
from storage.models import Photo
from storage.rotation import rotate_photos

pytestmark = pytest.mark.asyncio


async def stored(db, n: int) -> dict[int, bytes]:
    users = [await db.users.get_or_create_user("telegram", f"u{i}", "en") for i in range(3)]
    photos = {}
    for i in range(n):
        data = f"photo {i} ".encode() * 50
        photos[await db.photos.save_photo(users[i % 3].id, data)] = data
    return photos


async def key_ids(db) -> dict[int, str]:
    async with db.engine.connect() as connection:
        return dict((await connection.execute(select(Photo.id, Photo.key_id))).all())


async def test_rotation_re_encrypts_every_photo_in_batches(open_db, photo_key):
    photos = await stored(await open_db(photo_key), 7)
    new = new_key_text()
    rotating = await open_db(new, old_keys=photo_key)
    seen = []
    report = await rotate_photos(rotating, batch=3, progress=lambda r: seen.append(r.resealed))
    assert (report.resealed, report.unreadable, report.remaining) == (7, [], {})
    assert seen == [3, 6, 7]
    assert set((await key_ids(rotating)).values()) == {key_id(parse_key(new))}
    only_new = await open_db(new)  # the old key can now be forgotten
    for photo_id, data in photos.items():
        assert await only_new.photos.load_photo(photo_id) == data
    again = await rotate_photos(rotating, batch=3)  # idempotent
    assert (again.resealed, again.remaining) == (0, {})


async def test_interrupted_rotation_resumes_and_the_service_reads_both_keys_meanwhile(open_db, photo_key):
    photos = await stored(await open_db(photo_key), 5)
    new = new_key_text()
    serving = await open_db(new, old_keys=photo_key)  # the service restarted with both keys
    last, resealed, _ = await serving.photos.reseal_batch(0, 2)  # a run stopped after its first batch
    assert resealed == 2
    keys = await key_ids(serving)
    assert sorted(keys.values()).count(key_id(parse_key(photo_key))) == 3
    for photo_id, data in photos.items():  # mixed keys: every photo still opens
        assert await serving.photos.load_photo(photo_id) == data
    user = await serving.users.get_or_create_user("telegram", "u0", "en")
    fresh = await serving.photos.save_photo(user.id, b"new photo during rotation")
    report = await rotate_photos(serving, batch=2)
    assert (report.resealed, report.remaining) == (3, {})
    assert (await key_ids(serving))[fresh] == key_id(parse_key(new))


async def test_photos_under_a_key_not_configured_are_reported_and_left(open_db, photo_key):
    photos = await stored(await open_db(photo_key), 2)
    lost = new_key_text()
    other = await open_db(lost)
    user = await other.users.get_or_create_user("telegram", "u1", "en")
    orphan = await other.photos.save_photo(user.id, b"under a key nobody kept")
    new = new_key_text()
    report = await rotate_photos(await open_db(new, old_keys=photo_key), batch=10)
    assert report.resealed == 2 and report.unreadable == [orphan]
    assert report.remaining == {key_id(parse_key(lost)): 1}
    assert len(photos) == 2
