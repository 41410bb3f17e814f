"""ingest.service.Pipeline: every message becomes points or a dead letter, and is handed on
with its ack token; nothing a message contains can stop the ingest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

import ingest.metrics
import ingest.service
from domain.budgets import DEFAULT_LIMITS, Budgets
from domain.registry import Registry
from ingest.deadletters import DeadLetterFile, read_local
from ingest.service import Pipeline

# An hour ago: inside the ingest's accepted time window.
BASE_MS = time.time_ns() // 1_000_000 - 3_600_000


class Writer:
    """Collects what the pipeline submits (the writer's own tests cover the rest)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[list[str], object | None]] = []

    def submit(self, lines: list[str], token: object | None, *, bounded: bool = True) -> bool:
        self.submitted.append((lines, token))
        return True


@pytest.fixture
def setup(registry: Registry, tmp_path: Path) -> Iterator[tuple[Pipeline, Writer, DeadLetterFile]]:
    writer = Writer()
    letters = DeadLetterFile(tmp_path / "dead" / "x.jsonl", 1 << 20)
    pipeline = Pipeline(registry, "mainport", writer, "ingest-x", letters)  # type: ignore[arg-type]
    yield pipeline, writer, letters
    letters.close()


def test_telemetry_becomes_its_points_with_the_messages_ack_token(
    setup: tuple[Pipeline, Writer, DeadLetterFile],
) -> None:
    pipeline, writer, _ = setup
    payload = orjson.dumps({"ts": BASE_MS, "metrics": {"t": 1.5}})

    pipeline.handle("mainport/woonbron/dev-1/telemetry", payload, (1, 42))

    [(lines, token)] = writer.submitted
    assert token == (1, 42)
    assert [ln.split(" ")[0] for ln in lines] == [
        "telemetry,device=dev-1,partner=woonbron",
        "messages,device=dev-1,partner=woonbron,type=telemetry",
    ]


def test_a_rejected_message_is_one_dead_letter_point_and_a_local_record_and_is_acked(
    setup: tuple[Pipeline, Writer, DeadLetterFile], tmp_path: Path
) -> None:
    pipeline, writer, letters = setup

    pipeline.handle("mainport/woonbron/dev-1/telemetry", b"{not json", (1, 7))

    [(lines, token)] = writer.submitted
    assert token == (1, 7)  # acked once its dead letter is stored
    assert lines[0].startswith("rejected,partner=woonbron,reason=malformed_json ")
    letters.flush()
    [letter] = read_local(tmp_path / "dead")
    assert (letter.reason, letter.topic, letter.excerpt) == (
        "malformed_json",
        "mainport/woonbron/dev-1/telemetry",
        "{not json",
    )


def test_a_bug_while_processing_costs_one_message_not_the_ingest(
    setup: tuple[Pipeline, Writer, DeadLetterFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, writer, _ = setup

    def broken(*_args: object) -> list[str]:
        raise KeyError("boom")

    monkeypatch.setattr(ingest.service, "message_lines", broken)
    payload = orjson.dumps({"ts": BASE_MS, "metrics": {"t": 1.5}})

    pipeline.handle("mainport/woonbron/dev-1/telemetry", payload, (1, 8))

    [(lines, token)] = writer.submitted
    assert token == (1, 8)
    assert lines[0].startswith("rejected,partner=_unknown,reason=internal_error ")
    assert "KeyError" in lines[0]


def test_an_unregistered_partner_is_counted_under_unknown_not_a_new_label(
    setup: tuple[Pipeline, Writer, DeadLetterFile],
) -> None:
    pipeline, writer, _ = setup
    before = ingest.metrics.message_counts(()).received["_unknown"]

    pipeline.handle("mainport/nobody-here/dev-1/telemetry", b"{}", None)

    assert ingest.metrics.message_counts(()).received["_unknown"] == before + 1
    assert "nobody-here" not in ingest.metrics.message_counts(()).received
    assert writer.submitted[0][0][0].startswith(
        "rejected,partner=nobody-here,reason=unknown_partner"
    )


def test_new_metric_names_past_the_budget_are_a_dead_letter_beside_the_kept_point(
    registry: Registry, tmp_path: Path
) -> None:
    writer = Writer()
    limits = replace(DEFAULT_LIMITS, metrics_per_device=2)
    budgets = Budgets.from_registry(registry, limits)
    pipeline = Pipeline(registry, "mainport", writer, "ingest-x", None, budgets)  # type: ignore[arg-type]
    topic = "mainport/woonbron/heat-crabbehof-01/telemetry"
    pipeline.handle(topic, orjson.dumps({"ts": BASE_MS, "metrics": {"a": 1}}), (1, 1))
    payload = orjson.dumps({"ts": BASE_MS + 1, "metrics": {"a": 2, "b": 3, "c": 4}})

    pipeline.handle(topic, payload, (1, 2))

    lines, token = writer.submitted[1]
    assert token == (1, 2)
    assert lines[0].startswith("telemetry,device=heat-crabbehof-01,partner=woonbron a=2.0,b=3.0 ")
    assert lines[1].startswith("messages,")
    assert lines[2].startswith("rejected,partner=woonbron,reason=too_many_metric_names ")
    assert "1 new refused (c)" in lines[2]


def test_a_rate_limited_flood_is_acked_with_one_dead_letter_per_second(
    registry: Registry, tmp_path: Path
) -> None:
    writer = Writer()
    letters = DeadLetterFile(tmp_path / "dead" / "x.jsonl", 1 << 20)
    limits = replace(DEFAULT_LIMITS, messages_per_s=1, burst_s=1)
    budgets = Budgets.from_registry(registry, limits)
    pipeline = Pipeline(registry, "mainport", writer, "ingest-x", letters, budgets)  # type: ignore[arg-type]
    payload = orjson.dumps({"ts": BASE_MS, "metrics": {"a": 1}})
    before = ingest.metrics.REJECTED.labels("woonbron", "rate_limited")._value.get()

    for k in range(5):
        pipeline.handle("mainport/woonbron/heat-crabbehof-01/telemetry", payload, (1, k))

    assert [token for _, token in writer.submitted] == [(1, k) for k in range(5)]
    kinds = [[ln.split(" ")[0] for ln in lines] for lines, _ in writer.submitted]
    assert kinds[1] == ["rejected,partner=woonbron,reason=rate_limited"]
    assert kinds[2:] == [[], [], []]  # counted, acked, not stored
    after = ingest.metrics.REJECTED.labels("woonbron", "rate_limited")._value.get()
    assert after - before == 4
    letters.flush()
    assert [letter.reason for letter in read_local(tmp_path / "dead")] == ["rate_limited"]
    letters.close()
