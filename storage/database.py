"""`Database`: the engine, its units of work and one instance of each repository.

    db = await Database.open()            # DATABASE_URL, else <ACNEBOT_DATA_DIR>/acnebot.db; migrates
    user = await db.users.get_or_create_user("telegram", "42", "en")
    async with db.transaction():          # several calls, one transaction
        ...
    await db.close()
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.config import data_dir as default_data_dir
from storage.config import database_url
from storage.crypto import PhotoCipher, cipher_from_settings
from storage.engine import create_engine
from storage.migrate import migrate
from storage.repositories.assessments import AssessmentRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.cache import CacheRepository
from storage.repositories.contacts import ContactRepository
from storage.repositories.dedup import DedupRepository
from storage.repositories.erasure import ErasureRepository
from storage.repositories.handovers import HandoverRepository
from storage.repositories.limits import RateLimitRepository
from storage.repositories.messages import MessageRepository
from storage.repositories.patients import PatientRepository
from storage.repositories.photos import PhotoRepository
from storage.repositories.profiles import ProfileRepository
from storage.repositories.reminders import ReminderRepository
from storage.repositories.staff import StaffRepository
from storage.repositories.staff_sessions import LoginThrottleRepository, StaffSessionRepository
from storage.repositories.states import StateRepository
from storage.repositories.users import UserRepository
from storage.repositories.work import WorkRepository
from storage.units import Transactions


class Database:
    def __init__(self, engine: AsyncEngine, cipher: PhotoCipher):
        self.engine = engine
        self._tx = Transactions(engine)
        self.users = UserRepository(self._tx)
        self.profiles = ProfileRepository(self._tx)
        self.states = StateRepository(self._tx)
        self.dedup = DedupRepository(self._tx, cipher.derived_key("processed message ids"))
        self.messages = MessageRepository(self._tx)
        self.photos = PhotoRepository(self._tx, cipher)
        self.assessments = AssessmentRepository(self._tx)
        self.reminders = ReminderRepository(self._tx)
        self.staff = StaffRepository(self._tx)
        self.audit = AuditRepository(self._tx)
        self.cache = CacheRepository(self._tx)
        self.contacts = ContactRepository(self._tx)
        self.erasure = ErasureRepository(self._tx)
        self.handovers = HandoverRepository(self._tx)
        self.patients = PatientRepository(self._tx)  # the staff console's
        self.staff_sessions = StaffSessionRepository(self._tx)
        self.login_throttle = LoginThrottleRepository(self._tx)
        self.limits = RateLimitRepository(self._tx)
        self.work = WorkRepository(self._tx)

    @classmethod
    async def open(cls, url: str | None = None, *, data_dir: Path | None = None, photo_key: str | None = None,
                   old_photo_keys: str | None = None, schema: str | None = None, run_migrations: bool = True,
                   **engine_options: Any) -> Database:
        """Connects (and migrates to the latest schema unless told not to).

        url: default `DATABASE_URL`, else `<data dir>/acnebot.db`. data_dir: default `ACNEBOT_DATA_DIR` or
        ./var. photo_key: default `ACNEBOT_PHOTO_KEY`, else a key generated once into `<data dir>/photo.key`.
        old_photo_keys: default `ACNEBOT_PHOTO_OLD_KEYS`, keys photos may still be encrypted with (rotation).
        """
        folder = data_dir or default_data_dir()
        cipher = cipher_from_settings(photo_key or os.environ.get("ACNEBOT_PHOTO_KEY"), folder,
                                      old_photo_keys or os.environ.get("ACNEBOT_PHOTO_OLD_KEYS"))
        engine = create_engine(url or database_url({**os.environ, "ACNEBOT_DATA_DIR": str(folder)}),
                               schema=schema, **engine_options)
        try:
            if run_migrations:
                await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, cipher)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self._tx.dialect

    @contextlib.asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """Runs every repository call made inside it (by this task) in one transaction; nests as a no-op. `urgent`:
        someone waits for it (on SQLite it goes ahead of other waiting units: storage/units.py)."""
        async with self._tx.begin(urgent):
            yield

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
