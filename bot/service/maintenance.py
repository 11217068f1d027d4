"""Maintenance commands run beside the service (`acnebot rotate-photo-key`, `acnebot purge-photos`), with the
service's settings (DATABASE_URL, ACNEBOT_DATA_DIR, ACNEBOT_PHOTO_KEY, ACNEBOT_PHOTO_OLD_KEYS)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.settings import Settings
from storage import Database
from storage.crypto import parse_key
from storage.rotation import rotate_photos

EXIT_OK, EXIT_FAILED = 0, 1


def _error(message: str) -> int:
    print(f"acnebot: error: {message}", file=sys.stderr)
    return EXIT_FAILED


async def _open(settings: Settings, photo_key: str | None = None) -> Database:
    return await Database.open(settings.reveal("database_url"), data_dir=settings.data_dir,
                               photo_key=photo_key or settings.reveal("photo_key"),
                               old_photo_keys=settings.reveal("photo_old_keys"))


def rotate_photo_key(new_key_file: str | None, batch: int) -> int:
    """Exit 0 when every photo is under the new key; 1 when some could not be read (their key is missing)."""
    settings = Settings()
    try:
        new_key = Path(new_key_file).read_text().strip() if new_key_file else settings.reveal("photo_key")
        if not new_key:
            return _error("give the new key in ACNEBOT_PHOTO_KEY or a --new-key file, and the old one(s) in "
                          "ACNEBOT_PHOTO_OLD_KEYS")
        parse_key(new_key)
    except (OSError, ValueError) as error:
        return _error(str(error))
    if batch < 1:
        return _error("--batch must be at least 1")

    async def rotate() -> int:
        db = await _open(settings, new_key)
        try:
            report = await rotate_photos(db, batch, progress=lambda r: print(
                f"re-encrypted {r.resealed} photos so far", file=sys.stderr))
        finally:
            await db.close()
        print(f"{report.resealed} photos re-encrypted with key {report.current_key_id}")
        if report.remaining:
            left = ", ".join(f"{n} under key {key}" for key, n in sorted(report.remaining.items()))
            return _error(f"photos left under other keys ({left}): add their key to ACNEBOT_PHOTO_OLD_KEYS "
                          "and run again")
        return EXIT_OK

    return asyncio.run(rotate())


def purge_photos(older_than_days: int) -> int:
    if older_than_days < 0:
        return _error("--older-than must be 0 or more days")
    from bot.service.housekeeping import purge_photos as purge

    async def run() -> int:
        db = await _open(Settings())
        try:
            deleted = await purge(db, older_than_days)
        finally:
            await db.close()
        print(f"{deleted} photos older than {older_than_days} days deleted")
        return EXIT_OK

    return asyncio.run(run())
