"""The bad-input corpus reuses the Telegram fixtures: the fake Bot API, the service on SQLite/PostgreSQL, and the
scripted patient."""
from tests.bot.conftest import (Patient, Service, db, fake, make_patient, open_db, service, start_service,  # noqa: F401
                                telegram_pg_schema)
