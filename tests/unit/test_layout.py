"""The tests mirror the code, and this keeps it so.

`tests/unit/<package>/` holds the pure tests of one of the project's packages: no broker, no
InfluxDB, no child process. `tests/integration/` holds every test that starts one (its fixtures
are in `tests/integration/conftest.py`, and `tests/conftest.py` marks them `integration`). Only
the repository-wide checks sit directly in `tests/unit/`. A test file anywhere else fails here
with the places it may go.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import REPO

TESTS = REPO / "tests"
UNIT = TESTS / "unit"
INTEGRATION = TESTS / "integration"
REPOSITORY_WIDE = frozenset({"test_layers.py", "test_layout.py"})
"""Checks of the whole repository, not of one package: they live in tests/unit/ itself."""

# Imports that would make a unit test start something: a child process or the services.
NOT_IN_UNIT_TESTS = ("subprocess", "tests.integration")


def _packages() -> set[str]:
    """The project's packages, as the import contract in pyproject.toml lists them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    roots = config["tool"]["importlinter"]["root_packages"]
    return {name for name in roots if (REPO / name / "__init__.py").is_file()}


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.name.startswith("test_"))


def _misplaced(path: Path, packages: set[str]) -> bool:
    if INTEGRATION in path.parents:
        return False
    if path.parent == UNIT:
        return path.name not in REPOSITORY_WIDE
    return path.parent.parent != UNIT or path.parent.name not in packages


def test_the_project_packages_are_found() -> None:
    assert {"domain", "core", "ingest", "api", "mainport"} <= _packages()


def test_every_test_module_is_under_unit_package_or_integration() -> None:
    packages = _packages()
    misplaced = [str(p.relative_to(REPO)) for p in _test_modules() if _misplaced(p, packages)]
    assert misplaced == [], (
        f"move {misplaced} to tests/unit/<package>/ (one of {sorted(packages)}) when pure, "
        "or to tests/integration/ when it starts Mosquitto, influxd, a browser or a process"
    )


def test_every_test_folder_is_a_package() -> None:
    # Support modules import as tests.<...>, and two folders may hold a test_x.py each.
    folders = {p.parent for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").exists())
    assert missing == [], f"add an empty __init__.py to {missing}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_unit_tests_start_no_process_and_no_service() -> None:
    starting = {}
    for path in UNIT.rglob("*.py"):
        if path.parent == UNIT:
            continue  # the repository-wide checks run lint-imports, for one
        found = sorted(
            name
            for name in _imports(path)
            for banned in NOT_IN_UNIT_TESTS
            if name == banned or name.startswith(banned + ".")
        )
        if found:
            starting[str(path.relative_to(REPO))] = found
    assert starting == {}, "these belong under tests/integration/"


def test_the_layout_check_catches_a_misplaced_test() -> None:
    packages = {"domain"}
    assert _misplaced(TESTS / "test_flat.py", packages)
    assert _misplaced(UNIT / "test_something.py", packages)
    assert _misplaced(UNIT / "nowhere" / "test_x.py", packages)
    assert _misplaced(UNIT / "domain" / "deeper" / "test_x.py", packages)
    assert not _misplaced(UNIT / "domain" / "test_x.py", packages)
    assert not _misplaced(INTEGRATION / "any" / "area" / "test_x.py", packages)
    assert not _misplaced(UNIT / "test_layers.py", packages)
