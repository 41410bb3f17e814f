"""`.env.example` stays in step with `Settings`: every setting listed, explained, its default true.

The file is generated (core/env_example.py); these tests fail when a setting is added, renamed,
re-described or given a new default without `make env-example`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from core import env_example
from core.settings import Settings

# The checkout root, wherever under tests/ this file lives.
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
COMMITTED = REPO / ".env.example"
LINE = re.compile(r"^# (MAINPORT_[A-Z0-9_]+)=(.*)$")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MAINPORT_ variable from the calling shell changes the defaults."""
    for name in list(os.environ):
        if name.startswith("MAINPORT_"):
            monkeypatch.delenv(name)


def assignments(text: str) -> dict[str, str]:
    return {m[1]: m[2] for m in map(LINE.match, text.splitlines()) if m}


def test_committed_file_is_what_settings_render() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == env_example.render(), (
        ".env.example is out of step with core/settings.py: run `make env-example` and commit it"
    )


def test_every_setting_is_listed_with_a_description() -> None:
    listed = assignments(env_example.render())

    for name, info in Settings.model_fields.items():
        assert env_example.env_name(name) in listed, name
        assert info.description, f"Settings.{name} needs Field(description=...)"


def test_secrets_are_never_given_a_value() -> None:
    listed = assignments(env_example.render())

    for var in ("MAINPORT_MQTT_PASSWORD", "MAINPORT_INFLUX_PASSWORD", "MAINPORT_SIM_CREDENTIALS"):
        assert listed[var] == "", var


def test_the_listed_defaults_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    fields = {env_example.env_name(name) for name in Settings.model_fields}

    for var, value in assignments(env_example.render()).items():
        if var in fields and value:
            monkeypatch.setenv(var, value)

    assert Settings() == defaults


def test_main_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / ".env.example"

    assert env_example.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == env_example.render()
