"""Who goes first when units of work wait (storage/units.py), on a real SQLite file and a real PostgreSQL: a patient's
message waiting for its answer (`urgent`) goes ahead of waiting background units; on SQLite one unit at a time, in
arrival order otherwise, and a waiter that gives up passes nothing on wrongly; on PostgreSQL at most
BACKGROUND_UNITS background units at once while urgent ones pass."""
from __future__ import annotations

import asyncio

import pytest

from storage.units import BACKGROUND_UNITS, WriterLock

pytestmark = pytest.mark.asyncio


async def unit(db, name: str, order: list[str], *, urgent: bool = False, hold: asyncio.Event | None = None,
               entered: asyncio.Event | None = None) -> None:
    async with db.transaction(urgent=urgent):
        await db.users.get_or_create_user("telegram", name, "en")  # real work inside the unit
        order.append(name)
        if entered is not None:
            entered.set()
        if hold is not None:
            await hold.wait()


async def settle() -> None:
    for _ in range(20):  # lets the tasks just created run up to where they wait
        await asyncio.sleep(0)


async def test_a_waiting_urgent_unit_goes_ahead_of_waiting_background_ones(db, backend):
    order: list[str] = []
    release, entered = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(unit(db, "holder", order, hold=release, entered=entered))
    await entered.wait()
    background = [asyncio.create_task(unit(db, f"background-{i}", order)) for i in range(BACKGROUND_UNITS + 2)]
    await settle()
    urgent = asyncio.create_task(unit(db, "urgent", order, urgent=True))
    await settle()
    if backend == "postgresql":  # no single writer: the urgent unit finishes while the holder still holds
        await asyncio.wait_for(urgent, 10)
        assert not holder.done()
    else:
        assert order == ["holder"]
    release.set()
    await asyncio.gather(holder, urgent, *background)
    assert sorted(order) == sorted(["holder", "urgent", *(f"background-{i}" for i in range(BACKGROUND_UNITS + 2))])
    if backend == "sqlite":
        assert order[:2] == ["holder", "urgent"]
        assert order[2:] == [f"background-{i}" for i in range(BACKGROUND_UNITS + 2)]  # in arrival order


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite runs one unit at a time
async def test_postgresql_runs_a_few_background_units_at_once(db, backend):
    order: list[str] = []
    release = asyncio.Event()
    background = [asyncio.create_task(unit(db, f"background-{i}", order, hold=release))
                  for i in range(BACKGROUND_UNITS + 2)]
    await settle()
    for _ in range(50):
        if len(order) == BACKGROUND_UNITS:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert sorted(order) == [f"background-{i}" for i in range(BACKGROUND_UNITS)]  # the first come, the rest wait
    await unit(db, "urgent", order, urgent=True)  # passes the full background places
    assert order[-1] == "urgent"
    release.set()
    await asyncio.gather(*background)
    assert len(order) == BACKGROUND_UNITS + 3


async def test_a_cancelled_waiter_neither_keeps_the_lock_nor_loses_it():
    lock, order = WriterLock(), []

    async def take(name: str, urgent: bool = False, hold: asyncio.Event | None = None) -> None:
        async with lock.hold(urgent):
            order.append(name)
            if hold is not None:
                await hold.wait()

    release = asyncio.Event()
    first = asyncio.create_task(take("first", hold=release))
    await settle()
    gives_up = asyncio.create_task(take("gives up", urgent=True))
    last = asyncio.create_task(take("last"))
    await settle()
    gives_up.cancel()
    release.set()
    await asyncio.gather(first, last)
    assert gives_up.cancelled() and order == ["first", "last"]

    # Cancelled just as the lock was handed to it: it passes the lock on instead of keeping it.
    release.clear()
    holder = asyncio.create_task(take("holder", hold=release))
    await settle()
    handed = asyncio.create_task(take("handed"))
    after = asyncio.create_task(take("after"))
    await settle()
    release.set()
    await asyncio.sleep(0)  # the holder leaves and hands the lock to "handed", which has not run yet
    handed.cancel()
    await asyncio.gather(holder, after, handed, return_exceptions=True)
    assert order[-2:] == ["holder", "after"]
    async with lock.hold(False):  # and the lock is free again
        pass
