"""The service (bot.service.app.create_app, with a messenger pointed at its fake API) and the staff console built by
create_console_app with the service's HandoverService, both on port 0: the two halves of a handover."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.service.app import HANDOVERS, create_app, create_console_app
from bot.settings import Settings
from work.pool import WorkerPool
from storage import Database
from tests.console.conftest import Console, FakeClock


@dataclass
class Running:
    app: web.Application  # the public service
    url: str
    console: Console


async def _listen(app: web.Application, runners: list[web.AppRunner]) -> str:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    runners.append(runner)
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


async def service_and_console(settings: Settings, db: Database, pool: WorkerPool,
                              runners: list[web.AppRunner]) -> Running:
    """Both applications listening (the runners fixture, tests/console/conftest.py, stops them)."""
    app = await create_app(settings, db=db, pool=pool)
    url = await _listen(app, runners)
    console_url = await _listen(create_console_app(db, settings, app[HANDOVERS]), runners)
    return Running(app, url, Console(console_url, FakeClock(), db))
