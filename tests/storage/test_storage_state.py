"""Conversation state: round trip, optimistic versions, and the row lock that serializes one user's turns."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from storage import NotFound, StaleState

pytestmark = pytest.mark.asyncio


async def test_state_round_trip_and_versions(db):
    user = await db.users.get_or_create_user("telegram", "1", "en")
    state = await db.states.load_state(user.id)
    assert (state.flow, state.step, state.data, state.version) == (None, None, {}, 0)
    saved = await db.states.save_state(replace(state, flow="checkin", step="region_photo",
                                               data={"region": "chin", "photos": [3, 4], "answers": {"age": 19}}))
    assert saved.version == 1
    loaded = await db.states.load_state(user.id, for_update=False)
    assert (loaded.flow, loaded.step, loaded.data, loaded.version) == (
        "checkin", "region_photo", {"region": "chin", "photos": [3, 4], "answers": {"age": 19}}, 1)
    with pytest.raises(StaleState):
        await db.states.save_state(replace(state, step="late"))  # still version 0: someone saved since
    assert (await db.states.save_state(replace(loaded, step=None))).version == 2


async def test_state_without_row_and_unknown_user(db):
    user = await db.users.get_or_create_user("telegram", "2", "en")
    assert (await db.states.load_state(user.id, for_update=False)).version == 0
    assert (await db.states.save_state(replace(await db.states.load_state(user.id, for_update=False),
                                               step="a"))).version == 1
    with pytest.raises(NotFound):
        await db.states.load_state(424242)


async def test_reads_inside_a_transaction_see_its_writes(db):
    user = await db.users.get_or_create_user("telegram", "4", "en")
    async with db.transaction():
        state = await db.states.load_state(user.id, for_update=True)
        await db.states.save_state(replace(state, step="consent"))
        assert (await db.states.load_state(user.id, for_update=True)).step == "consent"
        assert (await db.users.get_user(user.id)).consent == "pending"
        await db.users.set_consent(user.id, "accepted")
        assert (await db.users.get_user(user.id)).consent == "accepted"
        await db.profiles.save_profile(user.id, {"age": 30})
        assert (await db.profiles.load_profile(user.id)).answers == {"age": 30}
        await db.profiles.save_profile(user.id, {"age": 31})  # an upsert: not tracked by the session
        assert (await db.profiles.load_profile(user.id)).answers == {"age": 31}
        async with db.transaction():  # nested: joins the same transaction
            await db.states.save_state(await db.states.load_state(user.id))
    assert (await db.states.load_state(user.id, for_update=False)).version == 2


async def test_two_transactions_on_one_user_take_turns(db, open_db):
    """Two replicas handle the same user at once: the second load waits for the first commit, so no update
    is lost. (PostgreSQL: SELECT ... FOR UPDATE; SQLite: one unit at a time.)"""
    replica = await open_db()
    user = await db.users.get_or_create_user("telegram", "3", "en")
    await db.states.save_state(await db.states.load_state(user.id))  # the row exists: only a lock can hold it
    first_loaded = asyncio.Event()
    events: dict[str, float] = {}

    async def turn(database, name: str, hold: float) -> None:
        async with database.transaction():
            state = await database.states.load_state(user.id, for_update=True)
            events[f"{name}_loaded"] = time.monotonic()
            if name == "first":
                first_loaded.set()
            await asyncio.sleep(hold)
            await database.states.save_state(replace(state, data={"turns": state.data.get("turns", []) + [name]}))
            await database.messages.log_message(user.id, "in", "text", name)
            events[f"{name}_done"] = time.monotonic()  # just before COMMIT

    async def second() -> None:
        await first_loaded.wait()
        await turn(replica, "second", 0)

    await asyncio.gather(turn(db, "first", 0.3), second())
    final = await db.states.load_state(user.id, for_update=False)
    assert final.data == {"turns": ["first", "second"]}
    assert final.version == 3
    assert events["second_loaded"] > events["first_done"]
