"""Photo encryption at rest: AES-256-GCM, one random nonce per photo, the row's owner bound in as associated
data (a ciphertext copied onto another user's row does not decrypt).

Keys are named by a fingerprint (`key_id`, stored per row), so a keyring can hold old keys for reading while
new photos use the current one: `acnebot rotate-photo-key` (storage/rotation.py) re-encrypts the rest.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import PhotoKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE = "photo.key"


def key_id(key: bytes) -> str:
    """A public name for a key that reveals nothing about it."""
    return hashlib.sha256(b"acnebot photo key id\0" + key).hexdigest()[:16]


def parse_key(text: str) -> bytes:
    """A urlsafe-base64 32-byte key (padding optional), as in `ACNEBOT_PHOTO_KEY`."""
    text = text.strip()
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("ACNEBOT_PHOTO_KEY is not urlsafe base64") from error
    if len(key) != KEY_BYTES:
        raise ValueError(f"ACNEBOT_PHOTO_KEY must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def load_or_create_key_file(folder: Path) -> bytes:
    """The key in `<folder>/photo.key`, created once (mode 0600) when absent. Safe against a concurrent
    start of another process: the file appears complete or not at all."""
    path = folder / KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(new_key_text() + "\n")
            try:
                os.link(temp, path)  # fails if another process got there first; theirs wins
            except FileExistsError:
                pass
        finally:
            temp.unlink(missing_ok=True)
    return parse_key(path.read_text())


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


class PhotoCipher:
    def __init__(self, current: bytes, older: tuple[bytes, ...] = ()):
        self.current_id = key_id(current)
        self._current = current
        self._keys = {key_id(k): AESGCM(k) for k in (*older, current)}

    def seal(self, plaintext: bytes, owner: int) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._keys[self.current_id].encrypt(nonce, plaintext, _aad(owner))
        return Sealed(self.current_id, nonce, ciphertext)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def derived_key(self, purpose: str) -> bytes:
        """A secret for another use, derived from the current key (every replica has it already)."""
        return hmac.digest(self._current, b"acnebot derived key\0" + purpose.encode(), "sha256")

    def open(self, sealed: Sealed, owner: int, photo_id: int) -> bytes:
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            raise PhotoKeyError(f"photo {photo_id} was encrypted with key {sealed.key_id}, which is not "
                                "configured (ACNEBOT_PHOTO_KEY or <data dir>/photo.key changed?)")
        try:
            return aead.decrypt(sealed.nonce, sealed.ciphertext, _aad(owner))
        except InvalidTag:
            raise PhotoKeyError(f"photo {photo_id} failed authentication: wrong key or altered data") from None


def _aad(owner: int) -> bytes:
    return f"acnebot photo of user {owner}".encode()


def parse_old_keys(text: str | None) -> tuple[bytes, ...]:
    """`ACNEBOT_PHOTO_OLD_KEYS`: keys kept for reading only, separated by commas or whitespace."""
    return tuple(parse_key(part) for part in (text or "").replace(",", " ").split())


def cipher_from_settings(photo_key: str | None, data_dir: Path, old_keys: str | None = None) -> PhotoCipher:
    """`ACNEBOT_PHOTO_KEY` when given, else the key file in the data folder; `old_keys` stay readable.
    With ACNEBOT_PHOTO_KEY set, a key file left in the data folder (the key used before one was configured)
    stays readable too, so moving from the generated key to a configured one loses no photo."""
    older = parse_old_keys(old_keys)
    if photo_key:
        kept = data_dir / KEY_FILE
        if kept.exists():
            older = (*older, parse_key(kept.read_text()))
        return PhotoCipher(parse_key(photo_key), older)
    return PhotoCipher(load_or_create_key_file(data_dir), older)
