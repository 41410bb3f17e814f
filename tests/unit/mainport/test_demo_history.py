"""The demo history's plan and state (`mainport.demo_history`): where the past begins, where its
maintenance window lies, and what a start does with a fresh, an interrupted or a finished
backfill. The whole path through the real stack is in tests/test_up_history.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.registry import load_registry
from mainport.demo_history import (
    DAY_MS,
    HOUR_MS,
    HistoryError,
    HistoryPlan,
    decide,
    load_plan,
    new_plan,
    partners_with_windows,
    rfc3339,
    save_plan,
)
from tests.conftest import PARTNERS_FILE

NOW_MS = int(datetime(2026, 12, 3, 7, 7, 2, 345_000, tzinfo=UTC).timestamp() * 1000)


def test_seven_days_begin_on_the_hour_and_end_now_with_the_window_on_the_last_day() -> None:
    plan = new_plan(NOW_MS, 7 * 86_400)
    assert rfc3339(plan.start_ms) == "2026-11-26T07:00:00Z"
    assert rfc3339(plan.end_ms) == "2026-12-03T07:07:02Z"  # now, to the second
    # Hour 1–2 of the last whole day: a day after the start's multiple of every fault period.
    assert [(rfc3339(a), rfc3339(b)) for a, b in plan.maintenance] == [
        ("2026-12-02T08:00:00Z", "2026-12-02T09:00:00Z")
    ]
    (window,) = plan.maintenance
    assert (window[0] - plan.start_ms) % DAY_MS == HOUR_MS
    assert not plan.completed


def test_a_short_history_holds_its_window_in_its_second_hour() -> None:
    plan = new_plan(NOW_MS, 3 * 3600)
    assert rfc3339(plan.start_ms) == "2026-12-03T04:00:00Z"
    assert plan.maintenance == ((plan.start_ms + HOUR_MS, plan.start_ms + 2 * HOUR_MS),)
    with pytest.raises(ValueError, match="at least 2 hours"):
        new_plan(NOW_MS, 3600)


def test_state_round_trips_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "history.json"
    assert load_plan(path) is None
    plan = new_plan(NOW_MS, 7 * 86_400)
    save_plan(path, plan)
    assert load_plan(path) == plan
    assert json.loads(path.read_text())["format"] == "mainport-demo-history"
    path.write_text('{"format": "mainport-demo-history", "version": 1}')
    with pytest.raises(HistoryError, match=rf"{path}: 'start'; remove it"):
        load_plan(path)
    path.write_text("{not json")
    with pytest.raises(HistoryError, match="cannot read the demo history state"):
        load_plan(path)


def _no_question() -> bool:
    raise AssertionError("InfluxDB asked although the state answers")


def test_a_fresh_data_dir_backfills_and_writes_its_state_before_beginning(tmp_path: Path) -> None:
    state = tmp_path / "history.json"
    decision = decide(state, 7 * 86_400, NOW_MS, lambda: False)
    assert decision.backfill and decision.plan == new_plan(NOW_MS, 7 * 86_400)
    assert load_plan(state) == decision.plan  # written first: an interruption can resume
    assert decision.note.startswith("backfilling the demo history 2026-11-26T07:00:00Z")


def test_an_interrupted_backfill_resumes_from_the_same_start_up_to_now(tmp_path: Path) -> None:
    state = tmp_path / "history.json"
    first = decide(state, 7 * 86_400, NOW_MS, lambda: False).plan
    assert first is not None
    later = NOW_MS + 2 * HOUR_MS
    decision = decide(state, 7 * 86_400, later, _no_question)
    assert decision.backfill and decision.plan is not None
    # Same start (and so the same messages again: InfluxDB overwrites them), same window.
    assert decision.plan.start_ms == first.start_ms
    assert decision.plan.maintenance == first.maintenance
    assert decision.plan.end_ms == later // 1000 * 1000
    assert load_plan(state) == decision.plan
    assert decision.note.startswith("resuming the interrupted demo history backfill")


def test_a_finished_backfill_is_not_done_again(tmp_path: Path) -> None:
    state = tmp_path / "history.json"
    save_plan(state, HistoryPlan(1_000, 2_000, (), completed=True))
    decision = decide(state, 7 * 86_400, NOW_MS, _no_question)
    assert not decision.backfill and decision.plan == load_plan(state)
    assert "already backfilled; going live" in decision.note


def test_data_without_a_history_state_is_left_as_it_is(tmp_path: Path) -> None:
    state = tmp_path / "history.json"
    decision = decide(state, 7 * 86_400, NOW_MS, lambda: True)
    assert (decision.plan, decision.backfill) == (None, False)
    assert decision.note == "the data dir already holds data: no demo history added"
    assert not state.exists()


def test_the_platform_registry_is_the_partners_file_plus_the_window(tmp_path: Path) -> None:
    plan = new_plan(NOW_MS, 7 * 86_400)
    path = partners_with_windows(PARTNERS_FILE, plan.maintenance, tmp_path / "partners.yaml")
    original, copy = load_registry(PARTNERS_FILE), load_registry(path)
    assert copy.partners == original.partners
    assert copy.maintenance[: len(original.maintenance)] == original.maintenance
    (added,) = copy.maintenance[len(original.maintenance) :]
    assert added.partner == "*"
    assert (added.start, added.end) == (
        datetime(2026, 12, 2, 8, tzinfo=UTC),
        datetime(2026, 12, 2, 9, tzinfo=UTC),
    )
    assert path.read_text().startswith("# Generated by `mainport up --simulate`")
