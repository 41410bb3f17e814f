"""`.env.example`, rendered from `Settings`, so the file and the code cannot disagree.

Every field becomes a commented `MAINPORT_NAME=default` line under its description and limits;
secrets are never given a value. `tests/unit/core/test_env_example.py` fails when the committed
file is out of step; regenerate it with `make env-example`
(or `python -m core.env_example .env.example`).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from core.settings import Settings

WIDTH = 100

HEADER = """\
# Every setting of the `mainport` commands, with its default. Generated from core/settings.py by
# `make env-example`: edit the descriptions there, not here (tests/unit/core/test_env_example.py).
#
# The commands read the environment only (prefix MAINPORT_); nothing loads this file by itself.
# Export what you change, or copy the lines you need into your service manager's environment
# file. Docker Compose's own variables (the required passwords) are in docker/README.md.
# Secrets have no value here: put them in a secret store or an untracked file, never in git.
"""

# Read by the CLI itself rather than through Settings: named here so the file lists them all.
OUTSIDE_SETTINGS = (
    ("MAINPORT_LOG_LEVEL", "INFO", "Log level of every command (DEBUG, INFO, WARNING, ERROR)."),
    (
        "MAINPORT_SIM_CREDENTIALS",
        "",
        'Logins of `mainport simulate`/`replay`, JSON {"scope": ["username", "password"]}; '
        "`mainport up --simulate` issues them itself. Secret.",
    ),
)


def env_name(field: str) -> str:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def is_secret(info: FieldInfo) -> bool:
    return info.annotation is SecretStr or SecretStr in get_args(info.annotation)


def default_text(info: FieldInfo) -> str:
    """The default as the environment would spell it; empty for none (and for every secret)."""
    value: Any = info.get_default(call_default_factory=True)
    if value is None or is_secret(info):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def limits_text(info: FieldInfo) -> str:
    """The validation limits of a field, as a reader needs them to pick a value."""
    bounds: dict[str, Any] = {}
    parts: list[str] = []
    for item in info.metadata:  # annotated_types Ge/Gt/Le/Lt, pydantic's pattern metadata
        for key in ("ge", "gt", "le", "lt", "pattern"):
            value = getattr(item, key, None)
            if value is not None:
                bounds[key] = value
    if "ge" in bounds and "le" in bounds:
        parts.append(f"{bounds['ge']} to {bounds['le']}")
    else:
        signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        parts.extend(f"{signs[key]} {bounds[key]}" for key in signs if key in bounds)
    if "pattern" in bounds:
        parts.append(f"matches {bounds['pattern']}")
    choices = [arg for arg in get_args(info.annotation) if isinstance(arg, str)]
    if choices:
        parts.append("one of " + ", ".join(choices))
    if is_secret(info):
        parts.append("secret")
    return "; ".join(parts)


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH - 2, initial_indent="# ", subsequent_indent="# ")


def render() -> str:
    """The whole `.env.example` text for the `Settings` of this checkout."""
    lines = [HEADER.rstrip("\n")]
    for name, info in Settings.model_fields.items():
        if not info.description:
            raise ValueError(f"Settings.{name} has no description: give it Field(description=...)")
        lines.append("")
        lines.extend(_comment(info.description))
        limits = limits_text(info)
        if limits:
            lines.extend(_comment(f"({limits})"))
        lines.append(f"# {env_name(name)}={default_text(info)}")
    lines.append("")
    lines.append("# --- read by the CLI, not through Settings ---")
    for var, default, description in OUTSIDE_SETTINGS:
        lines.append("")
        lines.extend(_comment(description))
        lines.append(f"# {var}={default}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """`python -m core.env_example [PATH]`: write the file to PATH, or print it."""
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
