"""Photos, encrypted at rest (storage/crypto.py). The same bytes sent twice by one user are stored once."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import undefer

from storage import models
from storage.columns import utcnow
from storage.crypto import PhotoCipher, Sealed
from storage.domain import PhotoInfo
from storage.errors import NotFound, PhotoKeyError
from storage.repositories._sql import rowcount
from storage.units import Transactions


def to_info(row: models.Photo) -> PhotoInfo:
    return PhotoInfo(id=row.id, user_id=row.user_id, region=row.region, sha256=row.sha256, size=row.size,
                     key_id=row.key_id, created_at=row.created_at)


class PhotoRepository:
    def __init__(self, tx: Transactions, cipher: PhotoCipher):
        self._tx = tx
        self._cipher = cipher

    @property
    def current_key_id(self) -> str:
        return self._cipher.current_id

    async def save_photo(self, user_id: int, data: bytes, region: str | None = None) -> int:
        """The photo's id; an identical photo this user already stored keeps its id (and region)."""
        return (await self.store_photo(user_id, data, region))[0]

    async def store_photo(self, user_id: int, data: bytes, region: str | None = None) -> tuple[int, bool]:
        """save_photo's id, and whether these bytes were stored now (False: this user had stored them before)."""
        digest = hashlib.sha256(data).hexdigest()
        sealed = self._cipher.seal(data, owner=user_id)  # before the unit: keep it (and SQLite's lock) short
        async with self._tx.begin() as session:
            existing = (await session.execute(select(models.Photo.id).where(
                models.Photo.user_id == user_id, models.Photo.sha256 == digest).limit(1))).scalar_one_or_none()
            if existing is not None:
                return existing, False
            row = models.Photo(user_id=user_id, region=region, key_id=sealed.key_id, nonce=sealed.nonce,
                               ciphertext=sealed.ciphertext, sha256=digest, size=len(data), created_at=utcnow())
            session.add(row)
            await session.flush()
            return row.id, True

    async def delete_photo(self, photo_id: int, user_id: int) -> bool:
        """Deletes one photo of this user; False when there was none."""
        async with self._tx.begin() as session:
            return bool(rowcount(await session.execute(delete(models.Photo).where(
                models.Photo.id == photo_id, models.Photo.user_id == user_id))))

    async def set_region(self, photo_id: int, user_id: int, region: str | None) -> None:
        """The region a stored photo shows, once the patient has said (a close-up sent as the whole face)."""
        async with self._tx.begin() as session:
            found = rowcount(await session.execute(update(models.Photo).where(
                models.Photo.id == photo_id, models.Photo.user_id == user_id).values(region=region)))
        if not found:
            raise NotFound(f"photo {photo_id}")

    async def load_photo(self, photo_id: int, user_id: int | None = None) -> bytes:
        """The plaintext bytes. With `user_id`, a photo of someone else is NotFound too.
        Raises PhotoKeyError when the key is missing or wrong."""
        async with self._tx.begin() as session:
            row = await session.get(models.Photo, photo_id, options=[undefer(models.Photo.ciphertext)],
                                    populate_existing=True)
            if row is None or (user_id is not None and row.user_id != user_id):
                raise NotFound(f"photo {photo_id}")
            sealed, owner = Sealed(row.key_id, row.nonce, row.ciphertext), row.user_id
        return self._cipher.open(sealed, owner=owner, photo_id=photo_id)

    async def photo_info(self, photo_id: int) -> PhotoInfo:
        async with self._tx.begin() as session:
            row = await session.get(models.Photo, photo_id, populate_existing=True)
            if row is None:
                raise NotFound(f"photo {photo_id}")
            return to_info(row)

    async def list_photos(self, user_id: int) -> list[PhotoInfo]:
        async with self._tx.begin() as session:
            rows = (await session.execute(select(models.Photo).where(models.Photo.user_id == user_id)
                                          .order_by(models.Photo.id))).scalars().all()
            return [to_info(r) for r in rows]

    async def delete_photos_before(self, cutoff: datetime) -> int:
        """Retention: drops photos stored before `cutoff`; assessments and their numbers stay."""
        async with self._tx.begin() as session:
            return rowcount(await session.execute(delete(models.Photo).where(models.Photo.created_at < cutoff)))

    async def count_by_key(self) -> dict[str, int]:
        """Photos per key id (the current key's included when it has any)."""
        async with self._tx.begin() as session:
            rows = (await session.execute(select(models.Photo.key_id, func.count())
                                          .group_by(models.Photo.key_id))).all()
        return {key: int(n) for key, n in rows}

    async def reseal_batch(self, after_id: int, limit: int) -> tuple[int | None, int, list[int]]:
        """Re-encrypts with the current key up to `limit` photos with an id above `after_id` that use another
        key, in one transaction. Returns (last id looked at, or None when there was none; photos re-encrypted;
        ids whose key is not configured or that fail authentication, left as they are).

        Each row is updated only if it still has the key it was read with, so a concurrent rotation or a
        photo deleted meanwhile is harmless: running it again (or twice at once) is idempotent."""
        P = models.Photo
        current = self._cipher.current_id
        async with self._tx.begin() as session:
            rows = (await session.execute(
                select(P.id, P.user_id, P.key_id, P.nonce, P.ciphertext)
                .where(P.id > after_id, P.key_id != current).order_by(P.id).limit(limit))).all()
            if not rows:
                return None, 0, []
            resealed, unreadable = 0, []
            for row in rows:
                try:
                    plain = self._cipher.open(Sealed(row.key_id, row.nonce, row.ciphertext), row.user_id, row.id)
                except PhotoKeyError:
                    unreadable.append(row.id)
                    continue
                sealed = self._cipher.seal(plain, owner=row.user_id)
                resealed += rowcount(await session.execute(
                    update(P).where(P.id == row.id, P.key_id == row.key_id)
                    .values(key_id=sealed.key_id, nonce=sealed.nonce, ciphertext=sealed.ciphertext)))
            return rows[-1].id, resealed, unreadable
