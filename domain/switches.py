"""Switches the SNMP collector polls: their registry form, their credentials' form, and how an
interface's IF-MIB name becomes the registry's port name. Pure; no I/O.

In `config/partners.yaml` (kept in git) a switch names its credentials; the secrets themselves
(v2c community, v3 USM keys) live in a 0600 file under the data dir (`snmp-credentials.yaml`),
read by the collector (collector/credentials.py), never in the registry.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from domain.yaml_model import ConfigFileError, FieldError, parse_yaml_model

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,31}$"
DEFAULT_SNMP_PORT = 161
NameColumn = Literal["ifName", "ifDescr", "ifAlias"]
_HOST_RE = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+))(?::(?P<port>\d+))?$"
)
_NOT_SLUG = re.compile(r"[^a-z0-9-]+")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Switch(_Strict):
    """One switch the collector polls (`switches:` in the registry's YAML form)."""

    id: Annotated[str, Field(pattern=SLUG_PATTERN)]
    address: str = Field(description="host[:port] of the SNMP agent; port 161 by default")
    credentials: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    """Name of the entry in the SNMP credentials file (no secret here)."""
    interval_s: int = Field(60, ge=5, le=3600)
    timeout_s: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    port_names: NameColumn = "ifName"
    """Which IF-MIB column names the interfaces (ifName, ifDescr or ifAlias)."""
    port_map: dict[str, Annotated[str, Field(pattern=SLUG_PATTERN)]] = {}
    """Interface name as the switch says it → registry port name, where the slug of the
    interface name (lower case, runs of other characters as '-') is not the port's name."""

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        match = _HOST_RE.fullmatch(value)
        if match is None:
            raise ValueError(f"address {value!r} is not host[:port] (IPv6: [addr]:port)")
        port = match["port"]
        if port is not None and not 1 <= int(port) <= 65535:
            raise ValueError(f"address {value!r}: port {port} is not 1-65535")
        return value

    @property
    def host(self) -> str:
        match = _HOST_RE.fullmatch(self.address)
        assert match is not None  # checked by the validator
        return match["v6"] or match["host"]

    @property
    def udp_port(self) -> int:
        match = _HOST_RE.fullmatch(self.address)
        assert match is not None
        return int(match["port"]) if match["port"] else DEFAULT_SNMP_PORT

    def port_name(self, interface: str) -> str | None:
        """The registry port name of an interface, or None when it cannot be one."""
        if interface in self.port_map:
            return self.port_map[interface]
        return port_slug(interface)


def port_slug(interface: str) -> str | None:
    """`xe-0/0/1` → `xe-0-0-1`, `GigabitEthernet1/0/7` → `gigabitethernet1-0-7`: the registry's
    port names are slugs (no '/'), so switch names are lower-cased and every run of other
    characters becomes one '-'. None when nothing slug-like is left."""
    slug = _NOT_SLUG.sub("-", interface.strip().lower()).strip("-")
    return slug if re.fullmatch(SLUG_PATTERN, slug) else None


class CommunityV2c(_Strict):
    version: Literal["2c"]
    community: SecretStr = Field(min_length=1)


class UsmV3(_Strict):
    """SNMPv3 USM, authPriv only: SHA authentication and AES-128 privacy (RFC 3414/3826)."""

    version: Literal["3"]
    user: str = Field(min_length=1, max_length=32)
    auth_protocol: Literal["SHA"] = "SHA"
    auth_key: SecretStr = Field(min_length=8)
    priv_protocol: Literal["AES"] = "AES"
    priv_key: SecretStr = Field(min_length=8)


Credential = Annotated[CommunityV2c | UsmV3, Field(discriminator="version")]


class CredentialsFile(_Strict):
    """The SNMP credentials file: `credentials: {name: {version: "2c"|"3", ...}}`."""

    credentials: dict[str, Credential]

    @model_validator(mode="after")
    def _names(self) -> CredentialsFile:
        for name in self.credentials:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
                raise FieldError(f"credentials name {name!r} is not valid", "credentials", name)
        return self


class CredentialsError(ConfigFileError):
    """The SNMP credentials file is unusable; the message says where and why."""


def parse_credentials(text: str, source: str) -> CredentialsFile:
    return parse_yaml_model(text, CredentialsFile, source, CredentialsError)
