"""Photo key rotation: re-encrypt every photo stored under an older key with the current one.

    db = await Database.open(photo_key=new, old_photo_keys=old)   # the service can run like this meanwhile
    report = await rotate_photos(db)

Batches of `batch` photos, one short transaction each, walked by id: it can be stopped at any moment and run
again (photos already under the current key are not touched), and two runs at once do no harm.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from storage.database import Database

DEFAULT_BATCH = 20  # photos of up to 25 MB each: a batch stays well under a gigabyte in memory


@dataclass
class RotationReport:
    current_key_id: str
    resealed: int = 0
    unreadable: list[int] = field(default_factory=list)  # photo ids whose key is not configured (left as is)
    remaining: dict[str, int] = field(default_factory=dict)  # photos per key id other than the current one


async def rotate_photos(db: Database, batch: int = DEFAULT_BATCH,
                        progress: Callable[[RotationReport], None] | None = None) -> RotationReport:
    report = RotationReport(db.photos.current_key_id)
    after = 0
    while True:
        last, resealed, unreadable = await db.photos.reseal_batch(after, batch)
        if last is None:
            break
        after = last
        report.resealed += resealed
        report.unreadable += unreadable
        if progress is not None:
            progress(report)
    report.remaining = {key: n for key, n in (await db.photos.count_by_key()).items()
                        if key != report.current_key_id}
    return report
