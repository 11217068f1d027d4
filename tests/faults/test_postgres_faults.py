"""PostgreSQL connections killed under load: while several patients do check-ins at once, the service's own
backends are terminated again and again (pg_terminate_backend; the server itself is left alone). A turn whose
transaction lost its connection runs again on a new one (it was rolled back, its dedup mark with it), so every
patient gets every answer once and the pool recovers (/healthz)."""
from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from sqlalchemy import event

from tests.bot.test_telegram import answer_questions, assert_result
from tests.pg_support import admin

pytestmark = pytest.mark.asyncio
PATIENTS = 6
KILL_EVERY = 4  # Bot API calls between two rounds of terminations


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_turns_survive_their_connections_being_killed(backend, db, start_service, make_patient, fake,
                                                           face_photo, shipped_model, caplog):
    pids: set[int] = set()  # the service's backends, learnt as its pool opens connections

    @event.listens_for(db.engine.sync_engine, "connect")
    def learn(dbapi_connection, record) -> None:
        pids.add(dbapi_connection.driver_connection.get_server_pid())

    service = await start_service()
    killed = 0

    async def killer(done: asyncio.Event) -> None:
        nonlocal killed
        while not done.is_set():
            mark = len(fake.calls)
            await fake.wait_for(lambda: done.is_set() or len(fake.calls) >= mark + KILL_EVERY, 120)
            victims = sorted(pids)
            if victims:  # the busy ones first: a connection killed in a transaction is the case that matters
                await admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN "
                            f"({', '.join(map(str, victims))}) AND (state <> 'idle' OR {killed % 3} = 0)")
                killed += 1

    async def check_in(patient) -> None:
        await patient.command("/start")
        await patient.press("consent.accept")
        await patient.press("menu.checkin")
        await patient.press("checkin.mode_face")
        await patient.photo(face_photo)
        await answer_questions(patient)
        assert_result(patient)

    patients = [make_patient(service, user_id=9000 + i, name=f"P{i}") for i in range(PATIENTS)]
    done = asyncio.Event()
    kills = asyncio.create_task(killer(done))
    try:
        await asyncio.gather(*(check_in(p) for p in patients))
    finally:
        done.set()
        await fake._notify()
        await kills
    assert killed >= 3, killed  # rounds of terminations
    retried = [r for r in caplog.records if "connection lost" in r.getMessage()]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service.url}/healthz") as response:
            assert response.status == 200 and (await response.json())["database"] == "ok"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    print(f"{killed} rounds of terminations, {len(retried)} turns or jobs ran again")
