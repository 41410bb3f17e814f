"""ingest.service.Pipeline with a registry that changes while it runs (issue 13): a change is
taken between two messages; devices listed or retired, partners added and ports moved apply
to the messages after it, each judged at the message's own time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from controlplane.snapshot import Snapshot
from domain.registry import Budgets, Device, Partner, Port, Registry
from domain.registry_history import ALWAYS, DeviceTerms, PortTerms, RegistryHistory, Timeline
from ingest.deadletters import DeadLetter, DeadLetterFile, read_local
from ingest.service import RETIRED_DEVICE, Pipeline
from tests.unit.ingest.test_pipeline import Writer

NOW_MS = time.time_ns() // 1_000_000
MS = 1_000_000
PARTNER = "woonbron"


class Source:
    """A LiveRegistry whose snapshot the test swaps (the poll thread's part)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def current(self) -> Snapshot:
        return self.snapshot

    def on_change(self, listener: Callable[[Snapshot], None]) -> None:
        return None

    def refresh(self) -> bool:
        return False

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def with_partner(registry: Registry, partner: Partner) -> Registry:
    others = [p for p in registry.partners if p.id != partner.id]
    # A new Registry, not a model_copy: that would carry the cached `by_id` over.
    return Registry(
        partners=(*others, partner), maintenance=registry.maintenance, switches=registry.switches
    )


def strict(registry: Registry) -> Registry:
    """woonbron with no budget for unlisted devices: only listed ones are accepted."""
    own = registry.by_id[PARTNER].model_copy(update={"budgets": Budgets(auto_devices=0)})
    return with_partner(registry, own)


def snapshot(version: int, registry: Registry, history: RegistryHistory | None = None) -> Snapshot:
    return Snapshot(version, registry, history or RegistryHistory.of_registry(registry))


def telemetry(device: str, ts_ms: int, partner: str = PARTNER) -> tuple[str, bytes]:
    payload = orjson.dumps({"ts": ts_ms, "metrics": {"kwh": 1.0}})
    return f"mainport/{partner}/{device}/telemetry", payload


def stored(letters: DeadLetterFile) -> list[DeadLetter]:
    letters.flush()
    return read_local(letters.path.parent)


def reasons(letters: DeadLetterFile) -> list[str]:
    return [letter.reason for letter in stored(letters)]


@pytest.fixture
def letters(tmp_path: Path) -> Iterator[DeadLetterFile]:
    dead = DeadLetterFile(tmp_path / "dead" / "x.jsonl", 1 << 20)
    yield dead
    dead.close()


def pipeline_on(source: Source, letters: DeadLetterFile) -> tuple[Pipeline, Writer]:
    writer = Writer()
    pipeline = Pipeline(source, "mainport", writer, "ingest-x", letters)  # type: ignore[arg-type]
    return pipeline, writer


def test_a_device_listed_while_running_is_accepted_from_the_next_message(
    registry: Registry, letters: DeadLetterFile
) -> None:
    before = strict(registry)
    source = Source(snapshot(1, before))
    pipeline, writer = pipeline_on(source, letters)

    pipeline.handle(*telemetry("meter-new", NOW_MS), None)
    assert reasons(letters) == ["too_many_devices"]

    own = before.by_id[PARTNER]
    listed = own.model_copy(update={"devices": (*own.devices, Device(id="meter-new"))})
    source.snapshot = snapshot(2, with_partner(before, listed))
    pipeline.handle(*telemetry("meter-new", NOW_MS + 1), None)

    assert reasons(letters) == ["too_many_devices"]
    assert writer.submitted[-1][0][0].startswith("telemetry,device=meter-new,partner=woonbron")


def test_a_partner_added_while_running_is_known_from_the_next_message(
    registry: Registry, letters: DeadLetterFile
) -> None:
    source = Source(snapshot(1, registry))
    pipeline, writer = pipeline_on(source, letters)
    pipeline.handle(*telemetry("d-1", NOW_MS, partner="nieuw-net"), None)
    assert reasons(letters) == ["unknown_partner"]

    source.snapshot = snapshot(2, with_partner(registry, Partner(id="nieuw-net", name="Nieuw")))
    pipeline.handle(*telemetry("d-1", NOW_MS + 1, partner="nieuw-net"), None)

    assert reasons(letters) == ["unknown_partner"]
    assert writer.submitted[-1][0][0].startswith("telemetry,device=d-1,partner=nieuw-net")


def test_a_retired_device_is_refused_from_its_retirement_on_judged_at_the_message_time(
    registry: Registry, letters: DeadLetterFile
) -> None:
    device = registry.by_id[PARTNER].devices[0].id
    retired_ns = (NOW_MS - 60_000) * MS
    base = RegistryHistory.of_registry(registry)
    devices = dict(base.devices)
    devices[(PARTNER, device)] = Timeline((ALWAYS, retired_ns), (DeviceTerms(60), None))
    history = RegistryHistory(devices, base.ports, base.kinds)
    source = Source(snapshot(1, registry))
    pipeline, writer = pipeline_on(source, letters)
    source.snapshot = snapshot(2, registry, history)

    pipeline.handle(*telemetry(device, NOW_MS), None)  # after the retirement
    pipeline.handle(*telemetry(device, NOW_MS - 120_000), None)  # before it: still its own

    [letter] = stored(letters)
    assert (letter.partner, letter.reason) == (PARTNER, RETIRED_DEVICE)
    assert letter.time_ns // MS // 1000 == NOW_MS // 1000  # counted at the message's time
    assert writer.submitted[-1][0][0].startswith(f"telemetry,device={device},partner={PARTNER}")


def test_counters_are_tagged_with_the_owner_in_force_at_the_samples_time(
    registry: Registry, letters: DeadLetterFile
) -> None:
    moved_ns = (NOW_MS - 60_000) * MS
    key = ("dmd-core-1", "xe-0-0-1")
    base = RegistryHistory.of_registry(registry)
    old = base.ports[key].terms[0]
    assert old is not None
    ports = dict(base.ports)
    ports[key] = Timeline((ALWAYS, moved_ns), (old, PortTerms(PARTNER, 10_000.0, 60)))
    source = Source(snapshot(1, registry, RegistryHistory(base.devices, ports, base.kinds)))
    pipeline, writer = pipeline_on(source, letters)

    for ts_ms in (NOW_MS - 120_000, NOW_MS):
        payload = orjson.dumps({"ts": ts_ms, "in_octets": 1, "out_octets": 2, "oper_status": "up"})
        pipeline.handle("mainport/_network/dmd-core-1/xe-0-0-1/counters", payload, None)

    owners = [lines[0].split(",")[1] for lines, _ in writer.submitted]
    assert owners == [f"partner={old.partner}", f"partner={PARTNER}"]


def test_a_port_of_the_file_is_owned_as_the_file_says_at_any_time(registry: Registry) -> None:
    history = RegistryHistory.of_registry(registry)
    owner = registry.port_owner[("dmd-core-1", "xe-0-0-1")].id
    assert history.owner_at(("dmd-core-1", "xe-0-0-1"), 0) == owner
    assert Port(switch="dmd-core-1", port="xe-0-0-1", capacity_mbps=1).key in history.ports
