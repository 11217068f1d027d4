"""Persistence: SQLAlchemy 2 async models and repositories, Alembic migrations, the encrypted photo store.

Start with `storage.Database` (database.py). Repositories return the dataclasses in domain.py.
"""
from storage.database import Database
from storage.domain import (
                            Assessment,
                            AuditEntry,
                            ConversationState,
                            Handover,
                            LoggedMessage,
                            PhotoInfo,
                            Profile,
                            QueuedHandover,
                            Reminder,
                            StaffAccount,
                            User,
                            WorkItem,
)
from storage.errors import NotFound, PhotoKeyError, StaleState, StorageError
from storage.migrate import downgrade, migrate

__all__ = ["Assessment", "AuditEntry", "ConversationState", "Database", "Handover", "LoggedMessage", "NotFound",
           "PhotoInfo", "PhotoKeyError", "Profile", "QueuedHandover", "Reminder", "StaffAccount", "StaleState",
           "StorageError", "User", "WorkItem", "downgrade", "migrate"]
