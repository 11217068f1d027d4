"""The reminder dispatcher (bot/service/reminders.py) against the fake Bot API server, on SQLite and PostgreSQL, with a
fake clock: several replicas send each due reminder exactly once, also across a restart; daylight saving, quiet
hours, blocked patients, failed sends retried with backoff and given up, erased or non-consenting patients."""
from __future__ import annotations

import asyncio
import logging
from datetime import time, timedelta

import pytest
import pytest_asyncio

from bot.service.reminders import ReminderDispatcher
from conversations import Engine
from conversations.i18n import t
from tests.bot.reminder_support import FakeClock, at, messages_per_chat, seed_reminders, telegram_courier

pytestmark = pytest.mark.asyncio
EN_BUTTONS = [t("en", "reminders.start_checkin"), t("en", "reminders.snooze"), t("en", "reminders.stop")]


@pytest_asyncio.fixture
async def dispatcher(db, fake, pool, tmp_path):
    """One dispatcher on `db` with a fake clock (set `dispatcher.now.now`), Telegram as its courier."""
    engine = Engine(db, pool)
    async with telegram_courier(fake, engine, tmp_path) as telegram:
        yield ReminderDispatcher(db, engine, {"telegram": telegram}, now=FakeClock(at("2026-11-23 12:00")))


async def drain(dispatcher: ReminderDispatcher) -> None:
    while await dispatcher.run_once():
        pass


async def test_three_replicas_send_each_due_reminder_exactly_once(db, open_db, fake, pool, tmp_path,
                                                                  backend):
    n = 1000 if backend == "postgresql" else 150
    clock = FakeClock(at("2026-11-23 19:00:30"))
    users = await seed_reminders(db, n, at("2026-11-23 19:00"), fake=fake)
    databases = [db, await open_db(), await open_db()]
    async with telegram_courier(fake, Engine(databases[0], pool), tmp_path) as t0, \
            telegram_courier(fake, Engine(databases[1], pool), tmp_path) as t1, \
            telegram_courier(fake, Engine(databases[2], pool), tmp_path) as t2:
        replicas = [ReminderDispatcher(d, Engine(d, pool), {"telegram": c}, now=clock)
                    for d, c in zip(databases, (t0, t1, t2))]
        await asyncio.gather(*(drain(r) for r in replicas))
    per_chat = messages_per_chat(fake)
    assert len(per_chat) == n and set(per_chat.values()) == {1}  # each patient exactly once
    assert sum(r.sent for r in replicas) == n and all(r.sent > 0 for r in replicas)
    reminder = fake.called("sendMessage")[0]
    assert [label for label, _ in reminder.buttons] == EN_BUTTONS
    assert reminder.text.startswith(t("en", "reminders.due_first"))
    for user_id in users[:: n // 10]:
        saved = await db.reminders.get_reminder(user_id)
        assert (saved.state, saved.attempts, saved.next_due_at) == ("active", 0, at("2026-11-30 19:00"))
    assert await replicas[0].run_once() == 0


async def test_a_restart_in_the_middle_still_sends_each_once(db, open_db, fake, pool, tmp_path):
    clock = FakeClock(at("2026-11-23 19:00:30"))
    await seed_reminders(db, 120, at("2026-11-23 19:00"), fake=fake)
    first = await open_db()
    polled = asyncio.Event()

    async def wait(seconds: float) -> None:  # no sleeping: the test says when the next poll happens
        polled.set()
        await asyncio.Event().wait()

    async with telegram_courier(fake, Engine(first, pool), tmp_path) as telegram:
        crashing = ReminderDispatcher(first, Engine(first, pool), {"telegram": telegram}, now=clock,
                                      batch=60, concurrency=4, wait=wait)
        crashing.start()
        await fake.wait_for(lambda: len(messages_per_chat(fake)) >= 10)
        await crashing.stop()  # the sends in hand finish; the rest of its batch stays claimed
    sent_before = crashing.sent
    assert 10 <= sent_before < 60

    async with telegram_courier(fake, Engine(db, pool), tmp_path) as telegram:
        restarted = ReminderDispatcher(db, Engine(db, pool), {"telegram": telegram}, now=clock)
        await drain(restarted)
        assert restarted.sent == 60  # the other batch; the crashed one's claims are still leased
        clock.advance(minutes=5)  # the lease ends
        await drain(restarted)
    per_chat = messages_per_chat(fake)
    assert len(per_chat) == 120 and set(per_chat.values()) == {1}
    assert sent_before + restarted.sent == 120


async def test_19_00_local_stays_19_00_across_the_daylight_saving_change(db, dispatcher, fake):
    clock = dispatcher.now
    # Europe/Berlin: CET (UTC+1) until 29 March 2026, then CEST (UTC+2)
    [user] = await seed_reminders(db, 1, at("2026-03-24 18:00"), zone="Europe/Berlin", fake=fake)
    clock.now = at("2026-03-24 18:00:05")
    await drain(dispatcher)
    assert (await db.reminders.get_reminder(user)).next_due_at == at("2026-03-31 17:00")  # 19:00 CEST
    clock.now = at("2026-03-31 16:59")
    assert await dispatcher.run_once() == 0
    clock.now = at("2026-03-31 17:00:05")
    await drain(dispatcher)
    assert messages_per_chat(fake)[10_000] == 2
    # and back in autumn (America/New_York: EDT until 1 November 2026)
    [other] = await seed_reminders(db, 1, at("2026-10-28 23:00"), first_id=20_000, zone="America/New_York",
                                   fake=fake)
    clock.now = at("2026-10-28 23:00:05")
    await drain(dispatcher)
    assert (await db.reminders.get_reminder(other)).next_due_at == at("2026-11-05 00:00")  # 19:00 EST


async def test_quiet_hours_hold_a_late_reminder_until_morning_unless_the_patient_chose_the_night(
        db, dispatcher, fake):
    clock = dispatcher.now
    [evening] = await seed_reminders(db, 1, at("2026-11-23 18:00"), zone="Europe/Berlin", fake=fake)
    [night] = await seed_reminders(db, 1, at("2026-11-23 21:30"), first_id=20_000, zone="Europe/Berlin",
                                   time_of_day=time(22, 30), fake=fake)
    clock.now = at("2026-11-23 21:45")  # 22:45 in Berlin: the dispatcher was down since the evening
    await drain(dispatcher)
    assert messages_per_chat(fake) == {20_000: 1}  # 22:30 was the patient's own choice
    held = await db.reminders.get_reminder(evening)
    assert (held.state, held.next_due_at, held.attempts) == ("active", at("2026-11-24 08:00"), 0)  # 09:00 local
    clock.now = at("2026-11-24 08:00:05")
    await drain(dispatcher)
    assert messages_per_chat(fake) == {20_000: 1, 10_000: 1}
    assert (await db.reminders.get_reminder(evening)).next_due_at == at("2026-12-01 18:00")
    assert (await db.reminders.get_reminder(night)).next_due_at == at("2026-11-30 21:30")


async def test_a_blocked_patient_is_not_retried_and_reminders_stop(db, dispatcher, fake, caplog):
    clock = dispatcher.now
    [user] = await seed_reminders(db, 1, clock.now, fake=fake)
    fake.block(10_000)
    caplog.set_level(logging.INFO)
    await drain(dispatcher)
    assert len(fake.called("sendMessage")) == 1 and messages_per_chat(fake) == {}
    assert (await db.reminders.get_reminder(user)).state == "stopped"
    clock.advance(days=30)
    await drain(dispatcher)
    assert len(fake.called("sendMessage")) == 1
    assert "unreachable on telegram" in caplog.text


async def test_failed_sends_are_retried_with_backoff_then_given_up(db, dispatcher, fake, caplog):
    clock = dispatcher.now
    [user] = await seed_reminders(db, 1, clock.now, fake=fake)
    fake.fail_next("sendMessage", code=502, retry_after=None, description="Bad Gateway")
    await drain(dispatcher)
    failed = await db.reminders.get_reminder(user)
    assert (failed.state, failed.attempts, failed.next_due_at) == ("active", 1, clock.now + timedelta(minutes=1))
    assert "Bad Gateway" in failed.last_error
    clock.advance(minutes=1)
    await drain(dispatcher)
    assert messages_per_chat(fake) == {10_000: 1}
    assert (await db.reminders.get_reminder(user)).attempts == 0

    [unlucky] = await seed_reminders(db, 1, clock.now, first_id=20_000, fake=fake)
    dispatcher.max_attempts = 3
    caplog.set_level(logging.INFO)
    for wait in (1, 2, 4):  # minutes of backoff after each failure; the third failure gives up
        fake.fail_next("sendMessage", retry_after=5)  # flood control: 429
        await drain(dispatcher)
        clock.advance(minutes=wait)
    assert (await db.reminders.get_reminder(unlucky)).state == "failed"
    clock.advance(days=8)
    assert 20_000 not in messages_per_chat(fake)
    assert "given up after 3 tries" in caplog.text
    assert t("en", "reminders.due_first") not in caplog.text  # no message text in the logs


async def test_no_reminder_to_erased_declined_or_unserved_patients(db, dispatcher, fake):
    clock = dispatcher.now
    [erased] = await seed_reminders(db, 1, clock.now, fake=fake)
    [declined] = await seed_reminders(db, 1, clock.now, first_id=20_000, consent="declined", fake=fake)
    [wechat] = await seed_reminders(db, 1, clock.now, first_id=30_000, channel="wechat")
    counts = await db.erasure.delete_user_data(erased)
    assert counts["reminders"] == 1 and await db.reminders.get_reminder(erased) is None  # the cascade
    await drain(dispatcher)
    assert messages_per_chat(fake) == {}
    assert (await db.reminders.get_reminder(declined)).state == "stopped"
    untouched = await db.reminders.get_reminder(wechat)  # no courier here: left for a replica that has one
    assert (untouched.state, untouched.attempts) == ("active", 0)


async def test_the_idle_loop_costs_one_query_per_poll(db, dispatcher):
    from sqlalchemy import event

    statements: list[str] = []
    polls = 0

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    async def wait(seconds: float) -> None:
        nonlocal polls
        assert seconds == dispatcher.poll_seconds
        polls += 1
        dispatcher.now.advance(seconds=seconds)
        if polls == 10:
            dispatcher._stopping = True

    dispatcher.wait = wait
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await dispatcher.run()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert polls == 10
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 10 and len(statements) <= 10 + 2 * 10  # BEGIN/COMMIT where the driver sends them


async def test_a_stop_or_snooze_while_the_reminder_is_being_sent_is_kept(db):
    stopped, snoozed = await seed_reminders(db, 2, at("2026-11-23 19:00"))
    claims = await db.reminders.claim_due(at("2026-11-23 19:00:05"))
    await db.reminders.stop_reminder(stopped)  # the patient pressed an older reminder's buttons meanwhile
    await db.reminders.snooze_reminder(snoozed, at("2026-11-24 19:00"))
    for claim in claims:
        await db.reminders.mark_sent(claim.id, at("2026-11-30 19:00"))
    assert (await db.reminders.get_reminder(stopped)).state == "stopped"
    assert (await db.reminders.get_reminder(snoozed)).next_due_at == at("2026-11-24 19:00")


async def test_a_claim_about_to_expire_is_left_to_the_next_claimant(db, dispatcher, fake):
    clock = dispatcher.now
    await seed_reminders(db, 3, clock.now, fake=fake)
    claimed = await db.reminders.claim_due(clock.now, lease=timedelta(minutes=5))
    clock.advance(minutes=4, seconds=30)  # a slow batch: the lease ends within a send's timeout
    await dispatcher.send_claimed(claimed)
    assert messages_per_chat(fake) == {}
    clock.advance(seconds=30)
    await drain(dispatcher)  # claimed again once the lease is over, and sent once
    assert messages_per_chat(fake) == {10_000: 1, 10_001: 1, 10_002: 1}
