"""Persistence: SQLAlchemy 2 async models and repositories, Alembic migrations, the encrypted photo store.

Start with `storage.Database` (database.py). Repositories return the dataclasses in domain.py.
"""
from storage.database import Database
from storage.domain import (
                            AuditEntry,
                            ConversationState,
                            Handover,
                            LoggedMessage,
                            PhotoInfo,
                            Profile,
                            QueuedHandover,
                            Reminder,
                            StaffAccount,
                            StoredAssessment,
                            User,
                            WorkItem,
)
from storage.errors import NotFound, PhotoKeyError, StaleState, StorageError
from storage.migrate import downgrade, migrate

__all__ = ["AuditEntry", "ConversationState", "Database", "Handover", "LoggedMessage", "NotFound",
           "PhotoInfo", "PhotoKeyError", "Profile", "QueuedHandover", "Reminder", "StaffAccount", "StaleState",
           "StorageError", "StoredAssessment", "User", "WorkItem", "downgrade", "migrate"]
