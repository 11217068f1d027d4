"""Jobs for the pool's worker processes that tests use to keep a worker busy: they must be module-level
functions (a job travels to its process by name)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path


def wait_for_file(path: str, timeout: float = 120.0) -> None:
    """Holds a worker until `path` exists (the test's gate), or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@contextlib.asynccontextmanager
async def every_worker_busy(pool, gate: Path) -> AsyncIterator[None]:
    """Holds the pool's only worker (wait_for_file) until the block ends; the gate opens then."""
    blocker = asyncio.ensure_future(pool.run(wait_for_file, str(gate)))
    try:
        while not pool.busy:
            await asyncio.sleep(0.01)
        yield
    finally:
        gate.touch()
        await blocker
