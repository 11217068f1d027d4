"""Flows move by step name: `turn.goto(NAME)` into a state (stored as the patient's step, then its enter hook or
its prompt) or into an entry (its enter hook, the patient's step untouched). No database, no pipeline."""
from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from conversations import flows
from conversations.flows import names
from conversations.flows.turn import Step, Turn, Work, entry, goes_to


def _turn(steps: dict[str, Step], step: str) -> Turn:
    user = SimpleNamespace(id=1, locale="en", consent="accepted")
    return Turn(db=None, user=user, event=None, step=step, data={}, steps=steps, now=datetime.now(UTC))


@pytest.mark.asyncio
async def test_goto_a_state_stores_it_and_prompts_with_what_it_was_given():
    seen = []

    async def ask(turn, **values):
        seen.append(("ask", turn.step, values))

    turn = _turn({"a": Step(ask, "expects.button"), "b": Step(ask, "expects.button")}, "a")
    await turn.goto("b", preface=("advice",))
    assert turn.step == "b" and seen == [("ask", "b", {"preface": ("advice",)})]
    await turn.reprompt()
    assert seen[-1] == ("ask", "b", {})


@pytest.mark.asyncio
async def test_goto_a_state_with_an_enter_hook_runs_the_hook_instead_of_the_prompt():
    seen = []

    async def ask(turn):
        seen.append(("ask", turn.step))

    async def enter(turn):
        seen.append(("enter", turn.step))

    turn = _turn({"a": Step(ask, "expects.button"), "b": Step(ask, "expects.button", enter=enter)}, "a")
    await turn.goto("b")
    assert turn.step == "b" and seen == [("enter", "b")]


@pytest.mark.asyncio
async def test_an_entry_runs_its_hook_and_is_never_the_patients_step():
    seen = []

    async def ask(turn):
        seen.append(("ask", turn.step))

    async def stays(turn):
        seen.append(("stays", turn.step))

    async def moves_on(turn):
        await turn.goto("b")

    steps = {"a": Step(ask, "expects.button"), "b": Step(ask, "expects.button"), "stay": entry(stays),
             "on": entry(moves_on), "handed": Step(ask, "expects.button", on_photo=goes_to("stay"))}
    turn = _turn(steps, "a")
    await turn.goto("stay")
    assert turn.step == "a" and seen == [("stays", "a")]
    await turn.goto("on")
    assert turn.step == "b" and seen[-1] == ("ask", "b")
    turn.step = "handed"
    await steps["handed"].on_photo(turn)
    assert turn.step == "handed" and seen[-1] == ("stays", "handed")
    assert not steps["stay"].is_state and steps["a"].is_state


def test_every_name_is_a_step_and_the_entries_are_no_states():
    declared = {getattr(names, n) for n in dir(names) if n.isupper() and isinstance(getattr(names, n), str)}
    assert declared == set(flows.STEPS)
    assert {n for n, step in flows.STEPS.items() if not step.is_state} == set(names.ENTRIES)
    assert all(step.enter is not None for step in flows.STEPS.values() if not step.is_state)
    assert set(names.CHECKIN_STEPS) <= {n for n, step in flows.STEPS.items() if step.is_state}


@pytest.mark.asyncio
async def test_a_stored_entry_name_is_taken_for_the_menu():
    """Never stored by this version, but a state holding one (hand-edited, or from a future version) must not
    reach an entry's missing prompt."""
    shown = []

    async def menu(turn, **values):
        shown.append(turn.step)

    steps = dict(flows.STEPS)
    steps[names.MENU] = Step(menu, "expects.button")
    turn = _turn(steps, names.NEW_CHECKIN)
    await flows.interrupted(turn, Work("trend", {}, then="picture_ready"))
    assert turn.step == names.MENU and shown == [names.MENU]
