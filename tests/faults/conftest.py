"""The fault tests reuse the Telegram fixtures (fake Bot API, the service on SQLite/PostgreSQL, scripted patient)."""
from tests.bot.conftest import (Patient, Service, db, fake, make_patient, open_db, service, start_service,  # noqa: F401
                                telegram_pg_schema)
