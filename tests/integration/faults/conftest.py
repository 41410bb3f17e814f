"""What the fault tests share: a small tmpfs to fill up (root only), and the API as a child
process to ask `/readyz`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core.processes import Child, free_port
from tests.conftest import wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """`small_disk(name, megabytes)`: a tmpfs of that size mounted at tmp_path/name, unmounted
    after the test whatever happened. Needs root (CI runs as root); skipped otherwise."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill up needs root")
    mounted: list[Path] = []

    def mount(name: str, megabytes: int) -> Path:
        target = tmp_path / name
        target.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={megabytes}M", "tmpfs", str(target)],
            check=True,
        )
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte with one file; deleting it frees the space again."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1024 * 1024, 4096, 1):  # whole MiB, then the last pages
            try:
                while out.write(b"\0" * size):
                    pass
            except OSError:
                continue
    return filler


def start_api(spawn: Callable[..., Child], env: dict[str, str]) -> tuple[Child, str]:
    port = free_port()
    child = spawn("api", ["api"], {**env, "MAINPORT_API_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), timeout_s=60, what="the API")
    return child, url


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def readyz(url: str) -> httpx.Response:
    """`/readyz` with a bounded client timeout: a hung check must not hang the answer."""
    return httpx.get(f"{url}/readyz", timeout=5.0)
