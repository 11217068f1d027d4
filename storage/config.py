"""Where the data lives: the database URL and the data folder, from the environment."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """`ACNEBOT_DATA_DIR` (default `./var`), created on first use."""
    path = Path((os.environ if env is None else env).get("ACNEBOT_DATA_DIR") or "var")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # holds the database and the photo key
    return path


def database_url(env: Mapping[str, str] | None = None) -> str:
    """`DATABASE_URL`, else an SQLite file in the data folder."""
    url = (os.environ if env is None else env).get("DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{(data_dir(env) / 'acnebot.db').resolve()}"
