"""The layers of pyproject.toml's import contract hold, and the check would catch a break.

`lint-imports` (import-linter) builds the import graph of every package, lazy imports inside
functions included, and fails on any import that runs back up a layer or across two processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(config), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_the_project_keeps_its_layers() -> None:
    done = _lint(REPO, REPO / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_import_back_up_a_layer_is_caught(tmp_path: Path) -> None:
    for package, source in {
        "top": "from bottom import helper\n",
        "bottom": "def helper() -> None:\n    from top import thing  # runs back up\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(source)
    config = tmp_path / "layers.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["top", "bottom"]

            [[tool.importlinter.contracts]]
            name = "top over bottom"
            type = "layers"
            layers = ["top", "bottom"]
            """
        )
    )
    done = _lint(tmp_path, config)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "bottom -> top" in done.stdout
