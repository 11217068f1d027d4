"""Errors the repositories raise; all derive from StorageError."""
from __future__ import annotations


class StorageError(Exception):
    pass


class NotFound(StorageError, LookupError):
    """The row asked for does not exist (or belongs to someone else)."""


class StaleState(StorageError):
    """The conversation state changed since it was loaded (optimistic version check failed)."""


class PhotoKeyError(StorageError):
    """A photo cannot be decrypted: its key is not configured, or the key or ciphertext is wrong."""


class NestedTransactionError(StorageError, RuntimeError):
    """A unit of work was used from a task other than the one that opened it."""
