"""The photo key: from settings (validated) or generated once into the data folder, private to its owner."""
from __future__ import annotations

import stat

import pytest

from storage.crypto import load_or_create_key_file, new_key_text, parse_key


def test_key_file_created_once_private(tmp_path):
    key = load_or_create_key_file(tmp_path)
    assert len(key) == 32
    assert stat.S_IMODE((tmp_path / "photo.key").stat().st_mode) == 0o600
    assert load_or_create_key_file(tmp_path) == key
    assert not [p for p in tmp_path.iterdir() if p.name != "photo.key"]


def test_invalid_configured_key_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        parse_key("c2hvcnQ")
    with pytest.raises(ValueError, match="base64"):
        parse_key("not base64 !!")
    assert len(parse_key(new_key_text().rstrip("="))) == 32
