"""collector.credentials: the SNMP secrets file is refused unless only its owner may read it,
and every switch's named credentials must be in it before anything is polled."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.credentials import load_credentials, resolve
from domain.switches import CredentialsError, Switch

TEXT = 'credentials:\n  lab: {version: "2c", community: s3cret-community}\n'


def write(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "snmp-credentials.yaml"
    path.write_text(TEXT)
    path.chmod(mode)
    return path


def test_owner_only_file_is_read_and_others_readable_refused(tmp_path: Path) -> None:
    creds = load_credentials(write(tmp_path, 0o600))
    assert list(creds) == ["lab"]
    with pytest.raises(CredentialsError, match="chmod 600") as info:
        load_credentials(write(tmp_path, 0o640))
    assert "s3cret" not in str(info.value)


def test_a_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"snmp-credentials\.yaml"):
        load_credentials(tmp_path / "snmp-credentials.yaml")


def test_every_switch_needs_its_named_credentials(tmp_path: Path) -> None:
    path = write(tmp_path, 0o600)
    creds = load_credentials(path)
    ok = Switch.model_validate({"id": "sw-a", "address": "a", "credentials": "lab"})
    missing = Switch.model_validate({"id": "sw-b", "address": "b", "credentials": "core"})
    resolve([ok], creds, path)
    with pytest.raises(CredentialsError, match="no credentials named core"):
        resolve([ok, missing], creds, path)
