"""The registry written in its declarative form, the form of `config/partners.yaml`: what
`mainport registry export` prints and `mainport registry apply` reads back unchanged. Pure.

No secrets can appear: the registry holds none (switches name their SNMP credentials only).
"""

from __future__ import annotations

from typing import Any

import yaml

from domain.registry import Registry

HEADER = (
    "# Partners of the open fibre network, exported by `mainport registry export`.\n"
    "# Apply an edited copy with `mainport registry apply FILE` (--dry-run shows the difference).\n"
)


def registry_data(registry: Registry) -> dict[str, Any]:
    """Plain data in canonical order; empty or unset optional fields left out."""
    data = registry.canonical().model_dump(mode="json", exclude_none=True)
    for partner in data["partners"]:
        if not partner.get("budgets"):
            partner.pop("budgets", None)
        for name in ("devices", "ports"):
            if not partner.get(name):
                partner.pop(name, None)
    for name in ("maintenance", "switches"):
        if not data.get(name):
            data.pop(name, None)
    return data


def dump_registry(registry: Registry) -> str:
    """YAML: partners in blocks, each device and port on one line as in the shipped file."""
    body = yaml.safe_dump(
        registry_data(registry),
        sort_keys=False,
        default_flow_style=None,
        allow_unicode=True,
        width=120,
    )
    return HEADER + body
