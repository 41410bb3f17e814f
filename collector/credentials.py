"""The SNMP credentials file: secrets the registry's switches name, kept out of the registry.

A YAML file, 0600, owned by the collector's user (default `<data dir>/secrets/
snmp-credentials.yaml`, or MAINPORT_SNMP_CREDENTIALS_FILE):

    credentials:
      dmd-core-1: {version: "3", user: mainport, auth_key: "...", priv_key: "..."}
      lab-switch: {version: "2c", community: "..."}

A file others may read is refused, as ssh refuses a readable private key.
"""

from __future__ import annotations

import stat
from pathlib import Path

from domain.switches import Credential, CredentialsError, Switch, parse_credentials


def load_credentials(path: Path) -> dict[str, Credential]:
    """The named credentials; raises CredentialsError (naming the file) when unusable."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read the SNMP credentials: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path}: SNMP credentials must be readable by their owner only "
            f"(chmod 600 {path}); it is {stat.filemode(mode)}"
        )
    return dict(parse_credentials(text, str(path)).credentials)


def resolve(switches: list[Switch], credentials: dict[str, Credential], source: Path) -> None:
    """Refuse, before polling anything, a switch whose credentials are not in the file."""
    missing = sorted({s.credentials for s in switches} - credentials.keys())
    if missing:
        raise CredentialsError(f"{source}: no credentials named {', '.join(missing)}")
