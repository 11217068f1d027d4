"""The service: one aiohttp application on PORT around one Engine, and the messenger transports.

    acnebot serve            # or: python -m bot

create_app() opens the database (DATABASE_URL, else SQLite under ACNEBOT_DATA_DIR), builds the Engine with its
WorkerPool, and the routes: /healthz, the Telegram webhook under /telegram/ (webhook mode), and whatever the
route hooks add: the local web chat (bot.webchat.setup(app, engine), mounted at /) and any function appended
to WEB_ROUTE_HOOKS. The database is opened there (the web chat gets the engine when it adds its routes) and
closed in cleanup_ctx, with everything else started and stopped: the pool's worker processes, Telegram polling or
its webhook, and the reminder dispatcher (bot/service/reminders.py, in every replica) that pushes due reminders through
the transports registered in app[COURIERS] by channel. Stopping (SIGTERM, SIGINT) closes the port, lets the
updates in hand finish, then closes the rest.
With no messenger token the service is the local demo: the web chat on 127.0.0.1, on SQLite.
serve() also runs the staff console (create_console_app, bot/console/) on CONSOLE_HOST:CONSOLE_PORT, with
whatever CONSOLE_ROUTE_HOOKS add to it; a console port that is taken is logged, and patients are still served.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from pydantic import ValidationError

from bot import webchat
from bot.handover import HandoverService
from bot.service import housekeeping, metrics
from bot.service.reminders import ReminderDispatcher
from bot.service.wiring import (COURIERS, DATABASE, ENGINE, POOL, SETTINGS, TELEGRAM, WECHAT, add_recovery,
                                closing, make_engine, model_check, open_database, routes)
from bot.settings import Settings
from conversations.engine import Engine
from conversations.limits import RateLimits
from storage import Database
from work.pool import WorkerPool

log = logging.getLogger("acnebot")

HANDOVERS = web.AppKey("handovers", HandoverService)  # staff replies and closes, pushed by channel (the console)
REMINDERS = web.AppKey("reminders", ReminderDispatcher)

RouteHook = Callable[[web.Application, Engine], None]
# Functions that add routes to the public application, called with it and the engine before it starts.
WEB_ROUTE_HOOKS: list[RouteHook] = []
ConsoleRouteHook = Callable[[web.Application, Database], None]
# Functions that add routes to the staff console application (on CONSOLE_PORT), called with it and the
# database; a path meant for anyone (/metrics, /healthz) goes into app[bot.console.PUBLIC] too.
CONSOLE_ROUTE_HOOKS: list[ConsoleRouteHook] = []
MAX_REQUEST_BYTES = 26 * 1024 * 1024  # the web chat uploads photos of up to 25 MB (the intake limit)

def add_routes(app: web.Application, engine: Engine) -> list[str]:
    """Lets the route hooks and the web chat add their routes; returns what was mounted."""
    mounted = []
    for hook in WEB_ROUTE_HOOKS:
        hook(app, engine)
        mounted.append(getattr(hook, "__qualname__", repr(hook)))
    webchat.setup(app, engine, couriers=app[COURIERS])
    mounted.append(webchat.__name__)
    return mounted


async def create_app(settings: Settings | None = None, *, db: Database | None = None,
                     pool: WorkerPool | None = None) -> web.Application:
    """The public application. A db or pool given is the caller's to close; those opened here are closed
    when the application is cleaned up."""
    settings = settings or Settings()
    owns_db = db is None
    if db is None:
        db = await open_database(settings)
    try:
        owns_pool = pool is None
        pool = pool or WorkerPool(workers=settings.assessment_workers, queue=settings.assessment_queue)
        limits = RateLimits(settings.rate_messages_per_minute, settings.rate_checkins_per_day)
        engine = make_engine(settings, db, pool, limits)
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app[SETTINGS], app[DATABASE], app[POOL], app[ENGINE] = settings, db, pool, engine
        app[housekeeping.HOUSEKEEPING] = housekeeping.Housekeeping(
            db, photo_retention_days=settings.photo_retention_days, interval_s=settings.housekeeping_interval_s)
        couriers: dict = {}
        app[COURIERS] = couriers
        app.cleanup_ctx.append(closing(db.close if owns_db else None))
        app.cleanup_ctx.append(closing(pool.close if owns_pool else None))
        app.cleanup_ctx.append(model_check)
        app.cleanup_ctx.append(housekeeping.run_while_serving)
        app.router.add_routes(routes)
        if settings.telegram_enabled:
            from bot.telegram.transport import TelegramTransport

            transport = TelegramTransport(settings, engine)
            app[TELEGRAM] = transport
            couriers[transport.channel] = transport
            if settings.webhook_mode:
                app.router.add_post(settings.webhook_path, transport.webhook)
            app.cleanup_ctx.append(_telegram)
        app[HANDOVERS] = HandoverService(engine, couriers)
        if settings.wechat_enabled:
            from bot.wechat.transport import WeChatTransport

            wechat = WeChatTransport(settings, engine)
            app[WECHAT] = wechat
            app.router.add_get(settings.wechat_callback_path, wechat.verify)
            app.router.add_post(settings.wechat_callback_path, wechat.callback)
            couriers[wechat.channel] = wechat
            app.cleanup_ctx.append(_wechat)
        add_recovery(app, engine, couriers)
        add_routes(app, engine)
        app[REMINDERS] = ReminderDispatcher(db, engine, couriers, poll_seconds=settings.reminder_poll_seconds,
                                            max_attempts=settings.reminder_max_attempts)
        app.cleanup_ctx.append(_reminders)  # last: starts after the transports, stops before them
    except BaseException:
        if owns_db:
            await db.close()
        raise
    return app


def create_console_app(db: Database, settings: Settings, handovers: HandoverService | None = None,
                       pool: WorkerPool | None = None) -> web.Application:
    """The staff console on `db` (its pages need a login; accounts come from `acnebot staff add`), with the
    console route hooks' routes; `handovers` (the public app's app[HANDOVERS]) sends staff replies, the
    `pool`'s worker processes render its pictures."""
    from bot.console import PUBLIC, ConsoleConfig, build_console

    console = build_console(db, ConsoleConfig.from_settings(settings), handovers,
                            pool.run if pool is not None else None)
    metrics.setup(console, db)  # for the Prometheus scraper and the container's health check: no login
    console[PUBLIC] |= {"/metrics", "/healthz"}
    for hook in CONSOLE_ROUTE_HOOKS:
        hook(console, db)
    return console


async def _telegram(app: web.Application) -> AsyncIterator[None]:
    transport = app[TELEGRAM]
    await transport.start()
    yield
    await transport.stop()


async def _wechat(app: web.Application) -> AsyncIterator[None]:
    transport = app[WECHAT]
    await transport.start()
    yield
    await transport.stop()


async def _reminders(app: web.Application) -> AsyncIterator[None]:
    dispatcher = app[REMINDERS]
    if not dispatcher.couriers:
        log.info("reminders: no messenger to push them through; the dispatcher is off")
        yield
        return
    dispatcher.start()
    yield
    await dispatcher.stop()


# -- running -------------------------------------------------------------------------------------------------
async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Runs until SIGTERM or SIGINT (or `stop` is set), then shuts down gracefully."""
    stop = stop or asyncio.Event()
    app = await create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # starts what cleanup_ctx starts: Telegram polling or its webhook
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    console_runner = web.AppRunner(create_console_app(app[DATABASE], settings, app[HANDOVERS], app[POOL]),
                                   handle_signals=False, access_log=None)
    await console_runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        try:
            await web.TCPSite(console_runner, settings.console_host, settings.console_port).start()
        except OSError as error:
            log.error("the staff console cannot listen on %s:%d: %s", settings.console_host,
                      settings.console_port, error)
        host, port = runner.addresses[0][:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        log.info("acnebot is running: open http://%s:%d/ in a browser for the web chat", shown, port)
        if console_runner.addresses:
            console_host, console_port = console_runner.addresses[0][:2]
            log.info("staff console on http://%s:%d/ (accounts: acnebot staff add NAME --role admin)",
                     console_host, console_port)
        if not settings.messengers:
            log.info("no messenger token set: this is the local demo (web chat only, data in %s)",
                     settings.data_dir.resolve())
        await stop.wait()
        log.info("shutting down")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await console_runner.cleanup()  # before the public app, whose cleanup closes the database
        await runner.cleanup()


def run(host: str | None = None, port: int | None = None, role: str = "serve") -> int:
    """`acnebot serve` (or `acnebot worker`, role "worker"): settings from the environment, logging, run until
    stopped. Exit status 0 or 1."""
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"acnebot: configuration error:\n{_describe(error)}", file=sys.stderr)
        return 1
    if host is not None:
        settings.host_setting = host
    if port is not None:
        settings.port = port
    configure_logging(settings)
    if role == "worker":
        from bot.service.worker import work as main
    else:
        main = serve
    try:
        asyncio.run(main(settings))
    except KeyboardInterrupt:
        pass
    except Exception as error:
        from telegram.error import InvalidToken, TelegramError

        if isinstance(error, InvalidToken):
            log.error("Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather")
        elif isinstance(error, (TelegramError, OSError)):
            log.error("cannot start: %s: %s", type(error).__name__, error)
        else:
            raise
        return 1
    return 0


def _describe(error: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())


# -- logging: no tokens, no message texts ---------------------------------------------------------------------
class Redact(logging.Filter):
    """Replaces secrets (the bot token appears in Bot API and file URLs) in every record it sees."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                redacted = redacted.replace(secret, "<redacted>")
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                for secret in self.secrets:
                    text = text.replace(secret, "<redacted>")
                record.exc_text, record.exc_info = text, None
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings, stream=None) -> logging.Handler:
    """One handler on the root logger: JSON lines (LOG_FORMAT=json, or auto when stderr is not a terminal:
    containers, systemd) or plain text, both behind the Redact filter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter(settings.log_format, handler.stream))
    handler.addFilter(Redact([settings.reveal("telegram_bot_token") or "", settings.reveal("database_url") or "",
                              settings.reveal("telegram_webhook_secret") or "", settings.reveal("photo_key") or "",
                              *(settings.reveal("photo_old_keys") or "").replace(",", " ").split(),
                              settings.reveal("wechat_token") or "", settings.reveal("wechat_app_secret") or "",
                              settings.reveal("wechat_aes_key") or ""]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    quiet_libraries()
    return handler


def log_formatter(log_format: str, stream) -> logging.Formatter:
    if log_format == "text" or (log_format == "auto" and getattr(stream, "isatty", lambda: False)()):
        return logging.Formatter(TEXT_FORMAT)
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def quiet_libraries() -> None:
    """httpx logs every request URL (with the bot token); python-telegram-bot logs its request parameters
    (message texts) and its URLs at DEBUG, aiosqlite and SQLAlchemy's echo the SQL parameters (message texts
    again). None of them goes below these levels, whatever LOG_LEVEL says."""
    for name, level in {"httpx": logging.WARNING, "httpcore": logging.WARNING, "telegram": logging.INFO,
                        "aiosqlite": logging.INFO, "sqlalchemy.engine": logging.WARNING,
                        "aiohttp.access": logging.WARNING}.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(level, logger.getEffectiveLevel()))
