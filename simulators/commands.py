"""What `mainport simulate`, `record` and `replay` do, behind their thin typer declarations in
`mainport/cli.py`: option handling, progress on stderr (rich), summaries, exit codes.

Exit codes: 0 done; 1 could not start (bad scenario, options, credentials, broker); 2 ran,
but with errors (damaged feed lines, messages the broker did not take).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from domain.registry import Registry, RegistryError, load_registry
from simulators.feed import Damaged, FeedReader, FeedWriter
from simulators.payloads import rfc3339_ms
from simulators.scenario import Scenario, ScenarioError, ScenarioFile, load_scenario_file
from simulators.simulation import (
    Credentials,
    RunStats,
    Simulation,
    SimulationError,
    credentials_from_json,
    dry_run,
    make_world,
)
from simulators.truth import TruthBuilder
from simulators.world import resolve_start

console = Console(stderr=True, highlight=False)


class CommandError(Exception):
    """One line for the operator; the command exits 1."""


def say(text: str) -> None:
    console.print(f"mainport: {text}", markup=False, soft_wrap=True)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def load_credentials(file: Path | None, from_env: str | None) -> Credentials:
    """From --credentials-file, else MAINPORT_SIM_CREDENTIALS (JSON scope → [user, password])."""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
    else:
        text = from_env or ""
        if not text:
            raise CommandError(
                "no credentials: set MAINPORT_SIM_CREDENTIALS or --credentials-file to a JSON "
                "object of partner id (and _network) to [username, password], e.g. "
                '{"woonbron": ["woonbron", "…"]}'
            )
    try:
        return credentials_from_json(text)
    except SimulationError as exc:
        raise CommandError(str(exc)) from None


def with_overrides(source: ScenarioFile, **changes: Any) -> ScenarioFile:
    """The scenario with command-line options applied, validated like the file."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return source
    try:
        data = {**source.scenario.model_dump(by_alias=True, exclude_unset=True), **changes}
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(map(str, e['loc'])) or 'option'}: {e['msg']}" for e in exc.errors()
        )
        raise CommandError(problems) from None
    return ScenarioFile(scenario, source.source, source.node)


def run_simulate(
    scenario_path: Path,
    *,
    registry: Registry,
    host: str,
    port: int,
    root: str,
    grace_factor: float,
    overrides: dict[str, Any],
    dry: bool,
    out: str | None,
    truth_path: Path | None,
    batch: int,
    max_rate: float | None,
    client_prefix: str,
    credentials_file: Path | None,
    credentials_env: str | None,
    catch_up: bool = False,
) -> int:
    if catch_up and dry:
        raise CommandError("--catch-up is for a live run; a dry run writes history anyway")
    try:
        source = with_overrides(load_scenario_file(scenario_path), **overrides)
        if source.scenario.partners_file is not None:
            registry = load_registry(source.scenario.partners_file)
        start_ms = None
        if dry:
            # A dry run writes history: by default it ends now, whatever the scenario's speed.
            backfill = source.scenario.model_copy(update={"speed": "max"})
            start_ms = resolve_start(backfill, int(time.time() * 1000))
        world = make_world(source, registry, root, start_ms)
    except (ScenarioError, RegistryError) as exc:
        raise CommandError(str(exc)) from None
    truth = TruthBuilder(world, grace_factor) if truth_path is not None else None
    if dry:
        if out is None:
            raise CommandError("--dry-run writes a feed: give --out FILE (or - for stdout)")
        target: Path | Any = sys.stdout.buffer if out == "-" else Path(out)
        header = {
            "source": "simulate",
            "scenario": world.scenario.name,
            "seed": world.scenario.seed,
            "start": rfc3339_ms(world.start_ms),
        }
        writer = FeedWriter(target, header=header)
        try:
            stats = dry_run(world, writer, batch=batch, truth=truth)
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        finally:
            writer.close()
        say(
            f"wrote {stats.messages} messages in {stats.elapsed_s:.1f} s "
            f"({stats.rate:,.0f} msg/s) to {out}"
        )
    else:
        if out is not None:
            raise CommandError("--out is for --dry-run; a live run publishes to the broker")
        stop = stop_on_signals()
        with _progress(world.start_ms, world.end_ms, world.scenario.speed == "max") as bar:
            try:
                sim = Simulation(
                    source,
                    registry,
                    host,
                    port,
                    load_credentials(credentials_file, credentials_env),
                    root,
                    start_ms=world.start_ms,
                    batch=batch,
                    max_rate=max_rate,
                    client_prefix=client_prefix,
                    truth=truth,
                    progress=bar,
                    catch_up=catch_up,
                )
            except SimulationError as exc:
                raise CommandError(str(exc)) from None
            stats = sim.run(stop)
    if truth is not None and truth_path is not None:
        truth_path.write_text(json.dumps(truth.result(stats.ended_ms), indent=1) + "\n")
        say(f"ground truth until {rfc3339_ms(stats.ended_ms)} written to {truth_path}")
    return 2 if stats.errors else 0


class _Bar:
    def __init__(self, progress: Progress, start_ms: int, end_ms: int) -> None:
        self.progress, self.start_ms = progress, start_ms
        self.task = progress.add_task("simulating", total=end_ms - start_ms, rate="")

    def __call__(self, stats: RunStats, sim_ms: int) -> None:
        self.progress.update(
            self.task,
            completed=sim_ms - self.start_ms,
            rate=f"{stats.messages:,} msgs, {stats.rate:,.0f}/s, at {rfc3339_ms(sim_ms)[:19]}",
        )


def _progress(start_ms: int, end_ms: int | None, fast: bool) -> AbstractContextManager[Any]:
    if not fast or end_ms is None or not console.is_terminal:
        return nullcontext(None)
    end = end_ms
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
    )

    class _Ctx:
        def __enter__(self) -> _Bar:
            progress.start()
            return _Bar(progress, start_ms, end)

        def __exit__(self, *_: object) -> None:
            progress.stop()

    return _Ctx()


def run_record(
    *,
    host: str,
    port: int,
    username: str,
    password: str | None,
    out: Path,
    topic: str,
    duration_s: float | None,
    count: int | None,
) -> int:
    from simulators.record import Recorder, RecordError

    if password is None:
        raise CommandError(
            "no password: set MAINPORT_MQTT_PASSWORD for a login that may read everything "
            "(e.g. `mainport credentials issue _ingest --label recorder` and "
            "MAINPORT_MQTT_USERNAME=_ingest.recorder)"
        )
    stop = stop_on_signals()
    recorder = Recorder(host, port, (username, password), out, topic, f"record-{os.getpid()}")
    try:
        stats = recorder.run(
            stop,
            max_messages=count,
            duration_s=duration_s,
            on_ready=lambda: say(f"recording {topic} to {out}; Ctrl-C stops"),
        )
    except RecordError as exc:
        raise CommandError(str(exc)) from None
    say(
        f"recorded {stats.messages:,} messages ({stats.payload_bytes:,} payload bytes) "
        f"in {stats.elapsed_s:.1f} s to {out}"
    )
    return 0


def run_replay(
    path: Path,
    *,
    host: str,
    port: int,
    speed: float | None,
    rebase: bool,
    strict_order: bool,
    window: int,
    credentials_file: Path | None,
    credentials_env: str | None,
) -> int:
    from simulators.replay import Replayer, ReplayStats

    if not path.is_file():
        raise CommandError(f"no such feed file: {path}")
    credentials = load_credentials(credentials_file, credentials_env)
    stop = stop_on_signals()

    def damaged(entry: Damaged) -> None:
        say(f"{path}:{entry.line}: skipped: {entry.reason}")

    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    task = progress.add_task("replay", total=path.stat().st_size, info="")

    def report(reader: FeedReader, stats: ReplayStats) -> None:
        progress.update(
            task, completed=reader.position, info=f"{stats.messages:,} msgs, {stats.rate:,.0f}/s"
        )

    replayer = Replayer(
        host,
        port,
        credentials,
        speed=speed,
        rebase=rebase,
        strict_order=strict_order,
        window=window,
        on_damaged=damaged,
        progress=report,
    )
    with progress:
        stats = replayer.run(path, stop)
    errors = "; ".join(f"{n} × {what}" for what, n in stats.errors.most_common())
    say(
        f"replayed {stats.messages:,} messages in {stats.elapsed_s:.1f} s "
        f"({stats.rate:,.0f} msg/s); {len(stats.damaged)} damaged lines; "
        f"{sum(stats.errors.values())} errors" + (f" ({errors})" if errors else "")
    )
    return 2 if stats.error_count else 0


def parse_speed(text: str | None) -> float | str | None:
    """`max`, or a positive number of simulated seconds per second."""
    if text is None or text == "max":
        return text
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"--speed must be a positive number or max, not {text!r}") from None
    if not value > 0:
        raise CommandError(f"--speed must be a positive number or max, not {text!r}")
    return value
