"""The service: one aiohttp application on PORT around one Engine, and the messenger transports.

    acnebot serve            # or: python -m bot

create_app() opens the database (DATABASE_URL, else SQLite under ACNEBOT_DATA_DIR), builds the Engine with its
Assessor, and the routes: /healthz, the Telegram webhook under /telegram/ (webhook mode), and whatever the
route hooks add: the local web chat (bot.webchat.setup(app, engine), mounted at /) and any function appended
to WEB_ROUTE_HOOKS. The database is opened there (the web chat gets the engine when it adds its routes) and
closed in cleanup_ctx, with everything else started and stopped: the assessor's threads, Telegram polling or
its webhook. Stopping (SIGTERM, SIGINT) closes the port, lets the updates in hand finish, then closes the rest.
With no messenger token the service is the local demo: the web chat on 127.0.0.1, on SQLite.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import text

from bot.recovery import Recovery
from bot.settings import Settings
from conversations import Assessor, Engine
from conversations.limits import RateLimits
from storage import Database

log = logging.getLogger("acnebot")

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
ENGINE = web.AppKey("engine", Engine)
ASSESSOR = web.AppKey("assessor", Assessor)
TELEGRAM = web.AppKey("telegram", "TelegramTransport")  # bot.telegram, imported only when it is used
RECOVERY = web.AppKey("recovery", Recovery)

RouteHook = Callable[[web.Application, Engine], None]
# Functions that add routes to the public application, called with it and the engine before it starts.
WEB_ROUTE_HOOKS: list[RouteHook] = []
WEBCHAT = "bot.webchat"  # mounted at / when the package is there: bot.webchat.setup(app, engine)
MAX_REQUEST_BYTES = 26 * 1024 * 1024  # the web chat uploads photos of up to 25 MB (the intake limit)
HEALTH_TIMEOUT = 5.0

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers; which transports run."""
    app = request.app
    db = app[DATABASE]
    body = {"status": "ok", "database": "ok", "dialect": db.dialect,
            "telegram": app[TELEGRAM].mode if TELEGRAM in app else "off"}
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not healthy"; say which kind, not the details
        body.update(status="error", database=type(error).__name__)
        return web.json_response(body, status=503)
    return web.json_response(body)


def add_routes(app: web.Application, engine: Engine) -> list[str]:
    """Lets the route hooks and the web chat (if installed) add their routes; returns what was mounted."""
    mounted = []
    for hook in WEB_ROUTE_HOOKS:
        hook(app, engine)
        mounted.append(getattr(hook, "__qualname__", repr(hook)))
    if importlib.util.find_spec(WEBCHAT) is not None:
        importlib.import_module(WEBCHAT).setup(app, engine)
        mounted.append(WEBCHAT)
    return mounted


async def create_app(settings: Settings | None = None, *, db: Database | None = None,
                     assessor: Assessor | None = None) -> web.Application:
    """The public application. A db or assessor given is the caller's to close; those opened here are closed
    when the application is cleaned up."""
    settings = settings or Settings()
    owns_db = db is None
    if db is None:
        db = await Database.open(settings.reveal("database_url"), data_dir=settings.data_dir,
                                 photo_key=settings.reveal("photo_key"))
    try:
        owns_assessor = assessor is None
        assessor = assessor or Assessor(workers=settings.assessment_workers, queue=settings.assessment_queue)
        limits = RateLimits(settings.rate_messages_per_minute, settings.rate_checkins_per_day)
        engine = Engine(db, assessor, owner=settings.replica, limits=limits)
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app[SETTINGS], app[DATABASE], app[ASSESSOR], app[ENGINE] = settings, db, assessor, engine
        app.cleanup_ctx.append(_closing(db.close if owns_db else None))
        app.cleanup_ctx.append(_closing(assessor.close if owns_assessor else None))
        app.cleanup_ctx.append(_model_check)
        app.router.add_routes(routes)
        if settings.telegram_enabled:
            from bot.telegram import TelegramTransport

            transport = TelegramTransport(settings, engine)
            app[TELEGRAM] = transport
            if settings.webhook_mode:
                app.router.add_post(settings.webhook_path, transport.webhook)
            app.cleanup_ctx.append(_telegram)
        app[RECOVERY] = Recovery(engine, {"telegram": app[TELEGRAM].push} if TELEGRAM in app else {})
        app.cleanup_ctx.append(_recovery)
        add_routes(app, engine)
    except BaseException:
        if owns_db:
            await db.close()
        raise
    return app


def _closing(close: Callable[[], object] | None):
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
    return context


async def _model_check(app: web.Application) -> AsyncIterator[None]:
    """Loads the lesion model at start (it is needed for every assessment) and says so when it is missing."""
    from pipeline.classifier import ModelError, load

    try:
        await asyncio.get_running_loop().run_in_executor(None, load)
    except ModelError as error:
        log.warning("assessments will fail until the lesion model is installed: %s", error)
    yield


async def _telegram(app: web.Application) -> AsyncIterator[None]:
    transport = app[TELEGRAM]
    await transport.start()
    yield
    await transport.stop()


async def _recovery(app: web.Application) -> AsyncIterator[None]:
    """Takes back this replica's unfinished work, then re-offers queued work until shutdown. Stopped first on
    shutdown, so the assessments it started finish while the assessor's threads are still there."""
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
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if _has_webchat():
            log.info("acnebot is running: open http://%s:%d/ in a browser for the web chat", shown, port)
        else:
            log.info("acnebot is running on http://%s:%d/ (health: /healthz)", shown, port)
        if not settings.messengers:
            log.info("no messenger token set: this is the local demo (web chat only, data in %s)",
                     settings.data_dir.resolve())
        await stop.wait()
        log.info("shutting down")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()


def _has_webchat() -> bool:
    return importlib.util.find_spec(WEBCHAT) is not None


def run(host: str | None = None, port: int | None = None) -> int:
    """`acnebot serve`: settings from the environment, logging, serve until stopped. Exit status 0 or 1."""
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
    try:
        asyncio.run(serve(settings))
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


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact([settings.reveal("telegram_bot_token") or "", settings.reveal("database_url") or "",
                              settings.reveal("telegram_webhook_secret") or ""]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    quiet_libraries()


def quiet_libraries() -> None:
    """httpx logs every request URL (with the bot token); python-telegram-bot logs its request parameters
    (message texts) and its URLs at DEBUG, aiosqlite and SQLAlchemy's echo the SQL parameters (message texts
    again). None of them goes below these levels, whatever LOG_LEVEL says."""
    for name, level in {"httpx": logging.WARNING, "httpcore": logging.WARNING, "telegram": logging.INFO,
                        "aiosqlite": logging.INFO, "sqlalchemy.engine": logging.WARNING,
                        "aiohttp.access": logging.WARNING}.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(level, logger.getEffectiveLevel()))
