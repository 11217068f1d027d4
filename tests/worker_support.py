"""Jobs for the pool's worker processes that tests use to keep a worker busy: they must be module-level
functions (a job travels to its process by name)."""
from __future__ import annotations

import time
from pathlib import Path


def wait_for_file(path: str, timeout: float = 120.0) -> None:
    """Holds a worker until `path` exists (the test's gate), or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
