"""The service as a person runs it: `python -m bot serve` in a subprocess, waited for until it answers, and
stopped (SIGTERM, then SIGKILL) afterwards. Its output goes to a log file the failure message quotes."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

START_TIMEOUT = 90  # seconds: the first start migrates the database and loads the models


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_service(env: dict[str, str], log_path: Path, ready_url: str) -> Iterator[subprocess.Popen]:
    """Starts the service with `env`, yields it once `ready_url` answers 200, stops it on the way out."""
    with log_path.open("wb") as log_file:
        service = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if service.poll() is not None:
                pytest.fail(f"the service exited with {service.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not answer on {ready_url}:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield service
    finally:
        service.terminate()
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
