"""`mainport registry apply|export`, `device …`, `audit` as an operator runs them: real `mainport`
processes on both databases. Errors name file, line, field and reason; a dry run changes
nothing; export then apply changes nothing; file mode refuses entity changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PARTNERS_FILE, REPO


def mainport(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mainport", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_env(control_db: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINPORT_")}
    env.update(MAINPORT_DATABASE_URL=control_db, MAINPORT_DATA_DIR=str(tmp_path / "var"), **extra)
    return env


def test_apply_export_and_changes_from_the_shell(control_db: str, tmp_path: Path) -> None:
    env = cli_env(control_db, tmp_path)
    dry = mainport(env, "registry", "apply", str(PARTNERS_FILE), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ partner gemeente-dordrecht" in dry.stdout and "would apply" in dry.stderr
    empty = mainport(env, "registry", "export")
    assert "partners: []" in empty.stdout  # the dry run wrote nothing

    done = mainport(env, "registry", "apply", str(PARTNERS_FILE))
    assert done.returncode == 0 and "applied:" in done.stderr
    again = mainport(env, "registry", "apply", str(PARTNERS_FILE))
    assert again.stdout == "" and "applied: no changes" in again.stderr

    added = mainport(env, "device", "add", "woonbron", "heat-new", "--kind", "energy-meter")
    assert added.returncode == 0, added.stderr
    moved = mainport(env, "device", "set", "woonbron", "heat-new", "--interval-s", "300")
    assert "interval_s 60 → 300" in moved.stderr
    early = mainport(
        env, "device", "retire", "woonbron", "heat-new", "--effective", "2020-01-01T00:00:00Z"
    )
    assert early.returncode == 1 and "effective_from" in early.stderr
    listed = mainport(env, "device", "list", "--partner", "woonbron", "--json")
    assert '"id": "heat-new"' in listed.stdout
    logged = mainport(env, "audit", "--partner", "woonbron", "--limit", "2", "--json")
    assert logged.stdout.count('"actor": "cli:') == 2

    exported = tmp_path / "registry.yaml"
    assert mainport(env, "registry", "export", "--out", str(exported)).returncode == 0
    assert "heat-new" in exported.read_text()
    same = mainport(env, "registry", "apply", str(exported))
    assert "applied: no changes" in same.stderr

    # Dropping the device from the file retires it, and the file cannot bring it back.
    lines = [line for line in exported.read_text().splitlines() if "heat-new" not in line]
    edited = tmp_path / "edited.yaml"
    edited.write_text("\n".join(lines) + "\n")
    retired = mainport(env, "registry", "apply", str(edited))
    assert "- device woonbron/heat-new (absent from the file)" in retired.stdout
    back = mainport(env, "registry", "apply", str(exported))
    assert back.returncode == 1
    line = next(
        i for i, text in enumerate(exported.read_text().splitlines(), 1) if "heat-new" in text
    )
    assert f"{exported}:{line}: partners." in back.stderr and "never reused" in back.stderr


def test_apply_errors_name_file_line_and_field(control_db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "partners:\n  - id: acme\n    name: Acme\n    devices:\n      - {id: d1, interval_s: 0}\n"
    )
    result = mainport(cli_env(control_db, tmp_path), "registry", "apply", str(bad))
    assert result.returncode == 1
    assert f"{bad}:5: partners.0.devices.0.interval_s" in result.stderr


def test_file_mode_refuses_entity_changes(control_db: str, tmp_path: Path) -> None:
    env = cli_env(control_db, tmp_path, MAINPORT_PARTNERS_FILE=str(PARTNERS_FILE))
    assert mainport(env, "registry", "apply", str(PARTNERS_FILE)).returncode == 0
    refused = mainport(env, "device", "add", "woonbron", "x-1")
    assert refused.returncode == 1
    assert "governed by the partners file" in refused.stderr
