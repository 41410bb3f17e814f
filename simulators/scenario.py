"""Scenario files: which devices and ports to simulate, how fast, with which seed.

Validated strictly; an error names the field and the line (same machinery as the registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.yaml_model import ConfigFileError, load_yaml_model


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "unnamed"
    # Registry to simulate; relative paths resolve against the working directory.
    partners_file: Path | None = None
    partners: list[str] | None = Field(None, description="Only these partners (default: all)")
    seed: int = 1
    speed: float = Field(1.0, gt=0, le=10_000, description="Simulated seconds per real second")
    payload_format: Literal["json", "senml", "mixed"] = "mixed"
    ports: bool = True


class ScenarioError(ConfigFileError):
    pass


def load_scenario(path: Path) -> Scenario:
    return load_yaml_model(path, Scenario, ScenarioError)
