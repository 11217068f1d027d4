"""/delete leaves nothing behind: a full journey through the real engine (photos, answers, reminders, an
assessment), then /delete, then every table of the live schema (reflected from the database, not listed here)
is read row by row for the patient's ids, texts and photo; another patient's data is found and stays."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from conversation_support import Patient
from conversations import Engine

pytestmark = pytest.mark.asyncio


class TransportPatient(Patient):
    """Message ids as the transports make them: the web chat's "<user>:<n>", Telegram's "<chat id>:<n>"."""

    sent = 0

    def event(self, kind: str, payload: str = "", **fields):
        self.sent += 1
        return super().event(kind, payload, message_id=f"{self.user_id}:{self.sent}", **fields)


async def journey(engine: Engine, platform_id: str, photo: bytes, diary: str, *, assess: bool) -> Patient:
    patient = TransportPatient(engine, platform_id)
    await patient.command("start")
    await patient.tap("yes")
    await patient.tap("reminders")
    await patient.tap("weekly")
    await patient.tap("evening")
    await patient.text("Europe/Berlin")
    await patient.text(diary)  # free text at the menu: logged, answered with "tap a button"
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(photo)
    assert "✓ Photo received" in patient.texts
    await patient.text("37")
    await patient.tap("a.female")
    await patient.tap("t.penicillin")
    await patient.tap("t.sulfa")
    await patient.tap("done")
    if assess:
        await patient.skip_questions()
        assert "Severity:" in patient.texts
        await patient.tap("history")
    return patient


async def scan(db, user_id: int, needles: list[str]) -> list[str]:
    """Every place in the database where the user's id (in a column that refers to users) or a needle is."""
    found = []

    def reflect(connection) -> MetaData:
        metadata = MetaData()
        metadata.reflect(connection)
        return metadata

    async with db.engine.connect() as connection:
        metadata = await connection.run_sync(reflect)
        assert {"users", "photos", "message_log", "processed_messages"} <= set(metadata.tables)
        for table in metadata.sorted_tables:
            user_columns = {c.name for c in table.columns if c.name.endswith("user_id") or c.name == "user_id"
                            or any(fk.column.table.name == "users" for fk in c.foreign_keys)}
            if table.name == "users":
                user_columns.add("id")
            for row in (await connection.execute(select(table))).mappings():
                for column, value in row.items():
                    if column in user_columns and value == user_id:
                        found.append(f"{table.name}.{column} = user id")
                    text = _as_text(value)
                    found += [f"{table.name}.{column} holds {needle!r}" for needle in needles if needle in text]
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


async def test_delete_leaves_no_row_cell_or_text_of_the_patient(engine, db, face_photo, second_face_photo,
                                                                 shipped_model):
    alice = await journey(engine, "alice-4711", face_photo, "my private diary xyzzy", assess=True)
    bob = await journey(engine, "bob-0815", second_face_photo, "bob's own note plugh", assess=False)
    alice_id = (await db.users.find_user(alice.channel, alice.user_id)).id
    bob_id = (await db.users.find_user(bob.channel, bob.user_id)).id
    alice_needles = ["alice-4711", "xyzzy", hashlib.sha256(face_photo).hexdigest()]
    bob_needles = ["bob-0815", "plugh", hashlib.sha256(second_face_photo).hexdigest()]

    before = await scan(db, alice_id, alice_needles)
    for table in ("users", "profiles", "conversation_states", "photos", "message_log", "assessments", "reminders"):
        assert any(place.startswith(f"{table}.") for place in before), (table, before)  # the scan sees them

    await alice.command("delete")
    await alice.tap("yes")
    assert "All your data has been deleted" in alice.texts

    assert await scan(db, alice_id, alice_needles) == []
    kept = await scan(db, bob_id, bob_needles)
    assert {p.split(".")[0] for p in kept} >= {"users", "photos", "message_log", "reminders", "profiles"}
