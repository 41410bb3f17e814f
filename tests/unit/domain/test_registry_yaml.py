"""The registry's file form (domain/registry_yaml.py): what export writes reads back equal."""

from __future__ import annotations

from domain.registry import Registry, parse_registry
from domain.registry_yaml import dump_registry


def test_dump_reads_back_as_the_canonical_registry(registry: Registry) -> None:
    text = dump_registry(registry)
    assert parse_registry(text, "export.yaml") == registry.canonical()
    assert text.index("bouwbedrijf-drechtsteden") < text.index("woonbron")  # ids ascending


def test_an_empty_registry_is_still_a_valid_file() -> None:
    text = dump_registry(Registry(partners=()))
    assert parse_registry(text) == Registry(partners=())
