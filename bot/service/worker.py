"""`acnebot worker`: assessment capacity without a chat front. ASSESSMENT_WORKERS pipeline processes take the
assessments that wait in the database (a replica's workers were all busy past ASSESSMENT_QUEUE, or the replica
or worker that claimed one died: RECOVERY_LEASE), run them and send each result through the patient's messenger
(Telegram and WeChat, send-only: this process takes no updates). Each row of the work table is claimed with
SKIP LOCKED (bot/service/recovery.py), so any number of workers on any machine share the queue on PostgreSQL
and each result is sent once. /healthz on PORT answers 200 while the database does.

    DATABASE_URL=postgresql+asyncpg://… TELEGRAM_BOT_TOKEN=… ACNEBOT_PHOTO_KEY=… acnebot worker
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from bot.service.wiring import (COURIERS, DATABASE, ENGINE, POOL, SETTINGS, TELEGRAM, WECHAT, add_recovery, closing,
                                make_engine, model_check, open_database, routes)
from bot.settings import Settings
from work.pool import WorkerPool

log = logging.getLogger("acnebot.worker")


async def create_worker_app(settings: Settings) -> web.Application:
    db = await open_database(settings)
    try:
        pool = WorkerPool(workers=settings.assessment_workers)
        engine = make_engine(settings, db, pool)
        app = web.Application()
        app[SETTINGS], app[DATABASE], app[POOL], app[ENGINE] = settings, db, pool, engine
        couriers: dict = {}
        app[COURIERS] = couriers
        app.cleanup_ctx.append(closing(db.close))
        app.cleanup_ctx.append(closing(pool.close))
        app.cleanup_ctx.append(model_check)
        if settings.telegram_enabled:
            from bot.telegram.transport import TelegramTransport

            app[TELEGRAM] = couriers["telegram"] = TelegramTransport(settings, engine)
        if settings.wechat_enabled:
            from bot.wechat.transport import WeChatTransport

            app[WECHAT] = couriers["wechat"] = WeChatTransport(settings, engine)
        app.cleanup_ctx.append(_senders)
        add_recovery(app, engine, couriers)  # last: stops first, so the jobs in hand finish and are sent
        app.router.add_routes(routes)
    except BaseException:
        await db.close()
        raise
    return app


async def _senders(app: web.Application) -> AsyncIterator[None]:
    couriers = list(app[COURIERS].values())
    for courier in couriers:
        if courier.channel == "telegram":
            await courier.start(receive=False)
        else:
            await courier.start()
    if not couriers:
        log.warning("no messenger configured: finished results stay in the patients' history (web chat)")
    yield
    for courier in couriers:
        await courier.stop()


async def work(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Runs until SIGTERM or SIGINT (or `stop` is set); the jobs in hand finish first."""
    stop = stop or asyncio.Event()
    runner = web.AppRunner(await create_worker_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        host, port = runner.addresses[0][:2]
        log.info("acnebot worker is running: %d assessment processes, health on http://%s:%d/healthz",
                 settings.assessment_workers, host, port)
        await stop.wait()
        log.info("shutting down")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
