"""Everything the service is told, from environment variables (pydantic-settings); no token, key or password
lives in the repository.

    settings = Settings()                      # reads the environment
    settings = Settings(telegram_bot_token="123:abc", port=0)   # tests: fields by name

| variable | default | meaning |
| --- | --- | --- |
| TELEGRAM_BOT_TOKEN | none | turns the Telegram transport on (long polling unless TELEGRAM_WEBHOOK_URL) |
| TELEGRAM_WEBHOOK_URL | none | webhook mode: Telegram POSTs updates here (a path under /telegram/) |
| TELEGRAM_WEBHOOK_SECRET | generated into <data dir>/telegram-webhook.secret | the secret-token header |
| TELEGRAM_API_BASE_URL | https://api.telegram.org | Bot API server (self-hosted servers, tests) |
| TELEGRAM_FILE_BASE_URL | <API base>/file/bot | where files are downloaded from (ends /file/bot or is a root) |
| WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_APP_SECRET | none | all three turn the WeChat official account on |
| WECHAT_AES_KEY | none | the EncodingAESKey: safe (AES) mode, plain messages refused; plain mode without it |
| WECHAT_ACCOUNT_ID | none | the account's original id (gh_…): messages addressed to another are refused |
| WECHAT_API_BASE_URL | https://api.weixin.qq.com | WeChat API server (tests: a local fake) |
| WECHAT_CALLBACK_PATH | /wechat | the callback URL's path on PORT |
| WECHAT_REMINDER_TEMPLATE_ID | none | template message for reminders outside the 48-hour window |
| WECHAT_REPLY_DEADLINE | 4.0 | seconds to wait for a passive reply before answering "success" and pushing later |
| DATABASE_URL | SQLite file in the data dir | postgresql+asyncpg://… for production and replicas |
| ACNEBOT_DATA_DIR | ./var | the SQLite file, generated keys and secrets |
| ACNEBOT_PHOTO_KEY | generated into <data dir>/photo.key | the key photos are encrypted with |
| ACNEBOT_PHOTO_OLD_KEYS | none | older photo keys, still readable (comma-separated; during a key rotation) |
| PHOTO_RETENTION_DAYS | 180 | photos older than this are deleted (their assessments' numbers stay) |
| HOUSEKEEPING_INTERVAL_S | 3600 | how often each replica deletes expired photos, dedup marks and cache rows |
| HOST / PORT | 127.0.0.1 without a messenger token, else 0.0.0.0 / 8080 | web chat, webhooks, /healthz |
| CONSOLE_HOST / CONSOLE_PORT | 127.0.0.1 / 8081 | the staff console and /metrics |
| CONSOLE_COOKIE_SECURE | on, unless CONSOLE_HOST is loopback | console session cookie only over https |
| CONSOLE_SESSION_IDLE_MINUTES / CONSOLE_SESSION_HOURS | 30 / 12 | console logout after idle / absolute time |
| CONSOLE_LOGIN_MAX_FAILURES / CONSOLE_LOCKOUT_MINUTES | 5 / 15 | failed logins that lock an account (and an address) for a while |
| ASSESSMENT_WORKERS | one per core | worker processes that run the pipeline (photo checks, assessments, pictures) |
| ASSESSMENT_QUEUE | 100 | assessments that wait for a worker in memory; past it they wait in the database and the patient is told their place (the re-offer loop of any replica or `acnebot worker` sends the result); 0 with `acnebot worker`s: every assessment that finds the local workers busy goes to them |
| RECOVERY_LEASE | 600 | seconds after which work claimed by a replica or worker that never finished it (killed) is anybody's |
| REPLICA_ID | <hostname>:<PORT> | this replica's name on the work rows it holds: set a stable, unique one per replica (a restarted replica takes back its own unfinished work) |
| RECOVERY_INTERVAL | 5 | seconds between rounds that run queued assessments and work of replicas gone longer than RECOVERY_LEASE |
| TELEGRAM_TIMEOUT | 20 | seconds a Bot API request or file download may take to send or to answer (connect: 10) |
| RATE_MESSAGES_PER_MINUTE | 120 | messages a patient may send per minute, in bursts of as many (a token bucket in the database, shared by replicas); a quick patient taps through a check-in in 20 |
| RATE_CHECKINS_PER_DAY | 10 | check-ins a patient may start per day |
| REMINDER_POLL_SECONDS | 30 | how often each replica's reminder dispatcher looks for due reminders (one query) |
| REMINDER_MAX_ATTEMPTS | 5 | tries of a reminder whose sending fails (backoff 1, 2, 4... min) before giving up |
| LOG_LEVEL | INFO | |
| LOG_FORMAT | auto | json (one object a line), text, or auto: json unless stderr is a terminal |

Secrets are `SecretStr`: they print as `**********`, so logging a Settings object leaks nothing.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TELEGRAM_API = "https://api.telegram.org"
WECHAT_API = "https://api.weixin.qq.com"
WEBHOOK_PREFIX = "/telegram/"
WEBHOOK_SECRET_FILE = "telegram-webhook.secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", validate_by_name=True,
                                      validate_by_alias=True)

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = TELEGRAM_API
    telegram_file_base_url: str | None = None

    wechat_token: SecretStr | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None
    wechat_account_id: str | None = None
    wechat_api_base_url: str = WECHAT_API
    wechat_callback_path: str = "/wechat"
    wechat_reminder_template_id: str | None = None
    wechat_reply_deadline: float = Field(4.0, gt=0, lt=5)  # WeChat gives up after 5 s

    database_url: SecretStr | None = None  # may hold a password
    data_dir: Path = Field(Path("var"), validation_alias="ACNEBOT_DATA_DIR")
    photo_key: SecretStr | None = Field(None, validation_alias="ACNEBOT_PHOTO_KEY")
    photo_old_keys: SecretStr | None = Field(None, validation_alias="ACNEBOT_PHOTO_OLD_KEYS")
    photo_retention_days: int = Field(180, ge=1)
    housekeeping_interval_s: float = Field(3600, gt=0)

    port: int = Field(8080, ge=0, le=65535)
    host_setting: str | None = Field(None, validation_alias="HOST")
    console_port: int = Field(8081, ge=0, le=65535)
    console_host: str = "127.0.0.1"
    console_cookie_secure: bool | None = None
    console_session_idle_minutes: int = Field(30, ge=1)
    console_session_hours: int = Field(12, ge=1)
    console_login_max_failures: int = Field(5, ge=1)
    console_lockout_minutes: int = Field(15, ge=1)

    assessment_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    assessment_queue: int = Field(100, ge=0)
    reminder_poll_seconds: float = Field(30.0, gt=0)
    reminder_max_attempts: int = Field(5, ge=1)
    replica_id: str | None = None
    recovery_interval: float = Field(5.0, gt=0)
    recovery_lease: float = Field(600.0, gt=0)
    telegram_timeout: float = Field(20.0, gt=0)
    rate_messages_per_minute: int = Field(120, ge=1)
    rate_checkins_per_day: int = Field(10, ge=1)
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_under_telegram(cls, url: str | None) -> str | None:
        """The route is the URL's path, and the public port serves Telegram only under /telegram/."""
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("TELEGRAM_WEBHOOK_URL must be an absolute https:// URL")
        if parts.path in ("", "/"):
            return url.rstrip("/") + WEBHOOK_PREFIX + "webhook"
        if not parts.path.startswith(WEBHOOK_PREFIX) or parts.path == WEBHOOK_PREFIX:
            raise ValueError(f"TELEGRAM_WEBHOOK_URL's path must be under {WEBHOOK_PREFIX} (e.g. "
                             f"https://bot.example.com{WEBHOOK_PREFIX}webhook)")
        return url

    @field_validator("wechat_callback_path")
    @classmethod
    def _callback_path(cls, path: str) -> str:
        if not path.startswith("/") or path == "/" or path.startswith(WEBHOOK_PREFIX):
            raise ValueError("WECHAT_CALLBACK_PATH must be a path such as /wechat")
        return path

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) != 43:
            raise ValueError("WECHAT_AES_KEY (EncodingAESKey) has 43 characters")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _valid_secret(value.get_secret_value()):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    # -- derived ---------------------------------------------------------------------------------------------
    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def wechat_enabled(self) -> bool:
        return None not in (self.wechat_token, self.wechat_app_id, self.wechat_app_secret)

    @property
    def webhook_mode(self) -> bool:
        return self.telegram_enabled and self.telegram_webhook_url is not None

    @property
    def messengers(self) -> list[str]:
        """The messenger transports configured; none means the local demo (web chat on localhost)."""
        return [name for name, on in (("telegram", self.telegram_enabled), ("wechat", self.wechat_enabled)) if on]

    @property
    def host(self) -> str:
        if self.host_setting:
            return self.host_setting
        return "0.0.0.0" if self.messengers else "127.0.0.1"

    @property
    def console_secure_cookie(self) -> bool:
        """Secure cookies need https; a console on loopback is reached over plain http://localhost."""
        if self.console_cookie_secure is not None:
            return self.console_cookie_secure
        try:
            return not ipaddress.ip_address(self.console_host).is_loopback
        except ValueError:
            return self.console_host != "localhost"

    @property
    def replica(self) -> str:
        return self.replica_id or f"{socket.gethostname()}:{self.port}"

    @property
    def webhook_path(self) -> str | None:
        return urlsplit(self.telegram_webhook_url).path if self.webhook_mode else None

    @property
    def telegram_base_url(self) -> str:
        """python-telegram-bot's base_url ("<server>/bot"; the library appends the token)."""
        url = self.telegram_api_base_url.rstrip("/")
        return url if url.endswith("/bot") else url + "/bot"

    @property
    def telegram_base_file_url(self) -> str:
        """python-telegram-bot's base_file_url ("<server>/file/bot"; the library appends the token)."""
        url = (self.telegram_file_base_url or self.telegram_api_base_url).rstrip("/")
        if url.endswith("/file/bot"):
            return url
        return url + ("/bot" if url.endswith("/file") else "/file/bot")

    def webhook_secret(self) -> str:
        """TELEGRAM_WEBHOOK_SECRET, else one generated once and kept in the data folder.

        Several replicas must share it: set TELEGRAM_WEBHOOK_SECRET (or share the data folder), or each
        replica's set_webhook would replace the others' secret.
        """
        if self.telegram_webhook_secret is not None:
            return self.telegram_webhook_secret.get_secret_value()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.data_dir / WEBHOOK_SECRET_FILE
        try:
            kept = path.read_text().strip()
            if _valid_secret(kept):
                return kept
        except FileNotFoundError:
            pass
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
        return secret

    def reveal(self, field: str) -> str | None:
        value = getattr(self, field)
        return value.get_secret_value() if isinstance(value, SecretStr) else value


def _valid_secret(value: str) -> bool:
    return 1 <= len(value) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in value)
