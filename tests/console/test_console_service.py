"""The console as a person runs it: accounts made with `acnebot staff ...` (password on stdin), then
`python -m bot serve` (a subprocess), whose console listens on CONSOLE_PORT beside the web chat's PORT."""
from __future__ import annotations

import io
import os
import re
import sys
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import REPO
from tests.service_process import free_port, running_service


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_", "CONSOLE_"))
           and k not in ("DATABASE_URL", "HOST", "PORT", "ACNEBOT_PHOTO_KEY")}
    env.update(ACNEBOT_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture
def staff_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path):
    """Runs `acnebot staff ...` (bot.cli.main, in this process: a subprocess per command costs seconds) with
    the service's environment and `password` as standard input; returns (exit status, stdout)."""
    from bot.cli import main

    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("CONSOLE_") or n in ("DATABASE_URL", "ACNEBOT_PHOTO_KEY")]:
        monkeypatch.delenv(name)

    def run(*args: str, password: str | None = None) -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(password or ""))
        code = main(["staff", *args])
        return code, capsys.readouterr().out
    return run


def test_staff_commands_and_the_served_console(tmp_path: Path, staff_command):
    env = _env(tmp_path)
    assert staff_command("add", "ada", "--role", "admin", "--password-stdin", password="short\n")[0] == 1
    made = staff_command("add", "ada", "--role", "admin", "--password-stdin", password="first password 1\n")
    assert made[0] == 0, made
    assert staff_command("add", "ada", "--role", "support", "--password-stdin",
                         password="other password 1\n")[0] == 1  # exists already
    assert staff_command("add", "sam", "--role", "support", "--password-stdin",
                         password="support password 1\n")[0] == 0
    assert staff_command("passwd", "ada", "--password-stdin", password="second password 2\n")[0] == 0
    assert staff_command("role", "sam", "clinician")[0] == 0
    with pytest.raises(SystemExit):  # not a role: argparse refuses it
        staff_command("role", "sam", "owner")
    assert staff_command("disable", "sam")[0] == 0
    assert staff_command("disable", "nobody")[0] == 1
    listed = staff_command("list")[1].splitlines()
    assert [line.split("\t")[:3] for line in listed] == [["ada", "admin", "active"], ["sam", "clinician", "disabled"]]
    stored = (tmp_path / "acnebot.db").read_bytes()
    assert b"second password 2" not in stored and b"$argon2id$" in stored

    port, console_port = free_port(), free_port()
    log_path = tmp_path / "service.log"
    url = f"http://127.0.0.1:{console_port}"
    with running_service({**env, "PORT": str(port), "CONSOLE_PORT": str(console_port)}, log_path, url + "/login"):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

        def sign_in(username: str, password: str) -> int:
            page = opener.open(url + "/login").read().decode()
            token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            form = urlencode({"username": username, "password": password, "csrf": token}).encode()
            try:
                return opener.open(url + "/login", data=form).status
            except urllib.error.HTTPError as error:
                return error.code

        assert sign_in("sam", "support password 1") == 401  # disabled
        assert sign_in("ada", "first password 1") == 401  # the old password
        assert sign_in("ada", "second password 2") == 200  # redirected to the patient list
        assert "Patients" in opener.open(url + "/patients").read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert health.status == 200  # the public port is another application
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/patients", timeout=5)
        assert refused.value.code == 404  # the console is not on the public port
    assert "staff console on http://127.0.0.1:" in log_path.read_text()
