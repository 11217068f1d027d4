"""What `acnebot serve` (bot/service/app.py) and `acnebot worker` (bot/service/worker.py) are both made of: the
application keys, the database, the worker pool and the engine, the messenger couriers, the loop that finishes
the work table's unclaimed rows, /healthz. Both roles build their application from these; neither imports the
other.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web

from bot.service import metrics
from bot.service.health import database_problem
from bot.service.recovery import Recovery
from bot.settings import Settings
from conversations.engine import Engine
from conversations.limits import RateLimits
from storage import Database
from work.pool import WorkerPool

log = logging.getLogger("acnebot")

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
ENGINE = web.AppKey("engine", Engine)
POOL = web.AppKey("pool", WorkerPool)
TELEGRAM = web.AppKey("telegram", "TelegramTransport")  # bot.telegram.transport, imported only when it is used
WECHAT = web.AppKey("wechat", "WeChatTransport")  # bot.wechat.transport, imported only when it is used
COURIERS = web.AppKey("couriers", dict)  # channel -> Courier (bot/delivery.py); transports add themselves
RECOVERY = web.AppKey("recovery", Recovery)

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers; which transports run."""
    app = request.app
    db = app[DATABASE]
    body = {"status": "ok", "database": "ok", "dialect": db.dialect,
            "telegram": app[TELEGRAM].mode if TELEGRAM in app else "off"}
    problem = await database_problem(db)
    if problem:
        body.update(status="error", database=problem)
        return web.json_response(body, status=503)
    return web.json_response(body)


async def open_database(settings: Settings) -> Database:
    """DATABASE_URL (else SQLite under ACNEBOT_DATA_DIR) with the photo keys, migrated: for serve and worker."""
    return await Database.open(settings.reveal("database_url"), data_dir=settings.data_dir,
                               photo_key=settings.reveal("photo_key"), old_photo_keys=settings.reveal("photo_old_keys"))


def make_engine(settings: Settings, db: Database, pool: WorkerPool, limits: RateLimits | None = None) -> Engine:
    return Engine(db, pool, photo_retention_days=settings.photo_retention_days, observer=metrics.EngineMetrics(pool),
                  owner=settings.replica, limits=limits, lease=timedelta(seconds=settings.recovery_lease))


def add_recovery(app: web.Application, engine: Engine, couriers: dict) -> None:
    """The recovery loop, which is also the push path of the engine's detached work (`engine.deliver`)."""
    recovery = app[RECOVERY] = Recovery(engine, couriers, lease=engine.lease)
    engine.deliver = recovery.push
    app.cleanup_ctx.append(_recovery)


def closing(close: Callable[[], object] | None):
    """A cleanup_ctx step that calls `close` (sync or async) on shutdown; None: nothing to close."""
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
    return context


async def model_check(app: web.Application) -> AsyncIterator[None]:
    """Starts the worker processes, which load the lesion models (every assessment needs them), and says so
    when one is missing."""
    for problem in await app[POOL].warm():
        log.warning("assessments will fail until the lesion model is installed: %s", problem)
    yield


async def _recovery(app: web.Application) -> AsyncIterator[None]:
    """Takes back this replica's unfinished work, then re-offers queued work until shutdown. Stopped first on
    shutdown, so the assessments it started (and the engine's detached work) finish while the pool's workers
    are still there."""
    recovery, stop = app[RECOVERY], asyncio.Event()

    async def work() -> None:
        try:
            await recovery.take_back()
        except Exception as error:  # the database is not there yet: the re-offer rounds try again
            log.warning("taking back unfinished work failed: %s", type(error).__name__)
        await recovery.run(app[SETTINGS].recovery_interval, stop)

    task = asyncio.create_task(work())
    yield
    stop.set()
    await task
