"""A patient scripted against the fake Bot API for services in other processes (subprocess replicas): each step
sends an update and waits until the bot has answered it, judged by what the fake server received."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from conversations.i18n import t
from tests.fakes.telegram_api import FakeTelegram, FakeUser

REPO = Path(__file__).resolve().parents[2]
ANSWER_TIMEOUT = 120.0  # seconds: a cold service checks its first photo slowly on 2 shared cores


class ScriptedChat:
    def __init__(self, fake: FakeTelegram, user: FakeUser, webhook_urls: list[str] | None = None):
        self.fake, self.user = fake, user
        self.urls = webhook_urls  # webhook replicas, spread round robin; None: long polling
        self._next = 0

    def texts(self, since: int = 0) -> list[str]:
        return [c.text for c in self.fake.sent(self.user, since)]

    async def send(self, update: dict, *, until: str | None = None, timeout: float = ANSWER_TIMEOUT) -> list[str]:
        """Delivers the update and waits for the bot's answer: a message containing `until`, else any message
        with buttons or the photo request (the end of every answer the journey needs)."""
        mark = len(self.fake.calls)
        if self.urls:
            url = self.urls[self._next % len(self.urls)]
            self._next += 1
            await self.fake.deliver(update, url=url)
        else:
            await self.fake.deliver(update)

        def answered():
            calls = self.fake.sent(self.user, mark)
            if until is not None:
                return any(until in c.text for c in calls)
            return any(c.buttons or t("en", "checkin.face_photo") in c.text for c in calls)
        await self.fake.wait_for(answered, timeout)
        return self.texts(mark)

    async def command(self, text: str, **kwargs) -> list[str]:
        return await self.send(self.fake.command_update(self.user, text), **kwargs)

    async def press(self, key: str, **kwargs) -> list[str]:
        return await self.send(self.fake.press_update(self.user, t("en", key)), **kwargs)

    async def to_last_question(self, photo: bytes) -> None:
        """Consent, a full-face check-in, the photo, every question skipped but the last."""
        await self.command("/start")
        await self.press("consent.accept")
        await self.press("menu.checkin")
        await self.press("checkin.mode_face")
        await self.send(self.fake.photo_update(self.user, photo), until=t("en", "q.age"))
        while t("en", "q.distress") not in self.texts()[-1]:
            await self.press("questions.skip")


async def start_service(env: dict[str, str], log_path: Path) -> asyncio.subprocess.Process:
    """`python -m bot serve` from this worktree, its output into log_path."""
    log = open(log_path, "ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", cwd=REPO, stdout=log, stderr=log,
            env={**os.environ, "PYTHONPATH": str(REPO), "HOST": "127.0.0.1", "PORT": "0", **env})
    finally:
        log.close()


async def kill(process: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> int:
    if process.returncode is None:
        process.send_signal(sig)
    return await process.wait()


def pause(pids: set[int]) -> None:
    """Stops the processes (SIGSTOP): a worker then holds the job it is given until resumed or killed, so a test can
    stop the service in the middle of work however fast that work is."""
    _signal_each(pids, signal.SIGSTOP)


def resume(pids: set[int]) -> None:
    """Lets paused processes go on (SIGCONT); those already gone are skipped."""
    _signal_each(pids, signal.SIGCONT)


def _signal_each(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> set[int]:
    """The process's children, theirs, and so on (Linux /proc): the service's worker processes."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | descendants(child)
    return found


async def gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    """The pids still alive after `timeout` seconds (empty when every one has exited)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        alive = {pid for pid in pids if Path(f"/proc/{pid}").exists()
                 and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]}
        if not alive or asyncio.get_running_loop().time() > deadline:
            return alive
        await asyncio.sleep(0.1)
