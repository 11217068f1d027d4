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
| DATABASE_URL | SQLite file in the data dir | postgresql+asyncpg://… for production and replicas |
| ACNEBOT_DATA_DIR | ./var | the SQLite file, generated keys and secrets |
| ACNEBOT_PHOTO_KEY | generated into <data dir>/photo.key | the key photos are encrypted with |
| HOST / PORT | 127.0.0.1 without a messenger token, else 0.0.0.0 / 8080 | web chat, webhooks, /healthz |
| CONSOLE_HOST / CONSOLE_PORT | 127.0.0.1 / 8081 | the staff console and /metrics |
| ASSESSMENT_WORKERS | 2 | assessments run at once (threads) |
| ASSESSMENT_QUEUE | 100 | assessments that wait for a worker in memory; past it they wait in the database and the patient is told their place (bot/recovery.py sends the result) |
| REPLICA_ID | <hostname>:<PORT> | this replica's name in work markers: set a stable, unique one per replica (a restarted replica takes back its own unfinished work) |
| RECOVERY_INTERVAL | 5 | seconds between rounds that run queued assessments and work of replicas gone longer than 10 minutes |
| TELEGRAM_TIMEOUT | 20 | seconds a Bot API request or file download may take to send or to answer (connect: 10) |
| RATE_MESSAGES_PER_MINUTE | 120 | messages a patient may send per minute, in bursts of as many (a token bucket in the database, shared by replicas); a quick patient taps through a check-in in 20 |
| RATE_CHECKINS_PER_DAY | 10 | check-ins a patient may start per day |
| LOG_LEVEL | INFO | |

Secrets are `SecretStr`: they print as `**********`, so logging a Settings object leaks nothing.
"""
from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TELEGRAM_API = "https://api.telegram.org"
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

    database_url: SecretStr | None = None  # may hold a password
    data_dir: Path = Field(Path("var"), validation_alias="ACNEBOT_DATA_DIR")
    photo_key: SecretStr | None = Field(None, validation_alias="ACNEBOT_PHOTO_KEY")

    port: int = Field(8080, ge=0, le=65535)
    host_setting: str | None = Field(None, validation_alias="HOST")
    console_port: int = Field(8081, ge=0, le=65535)
    console_host: str = "127.0.0.1"

    assessment_workers: int = Field(2, ge=1)
    assessment_queue: int = Field(100, ge=0)
    replica_id: str | None = None
    recovery_interval: float = Field(5.0, gt=0)
    telegram_timeout: float = Field(20.0, gt=0)
    rate_messages_per_minute: int = Field(120, ge=1)
    rate_checkins_per_day: int = Field(10, ge=1)
    log_level: str = "INFO"

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
    def webhook_mode(self) -> bool:
        return self.telegram_enabled and self.telegram_webhook_url is not None

    @property
    def messengers(self) -> list[str]:
        """The messenger transports configured; none means the local demo (web chat on localhost)."""
        return ["telegram"] if self.telegram_enabled else []

    @property
    def host(self) -> str:
        if self.host_setting:
            return self.host_setting
        return "0.0.0.0" if self.messengers else "127.0.0.1"

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
