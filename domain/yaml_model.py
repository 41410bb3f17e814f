"""Operator-written YAML validated into a pydantic model, with errors that name file:line.

Used for every config file an operator writes (partners, scenarios), so they fail alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """The file is unusable; the message says where and why, one problem per line."""


class FieldError(ValueError):
    """Raised by a model validator about one field deeper down, so the error points at it.

    `loc` is relative to the model whose validator raises (e.g. ("devices", 2, "id")).
    """

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


def parse_yaml_model(
    text: str, model: type[M], source: str, error: type[ConfigFileError] = ConfigFileError
) -> M:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{source}: expected a mapping at the top")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # pydantic keeps the validator's exception in ctx: a FieldError adds where it points.
            inner = err.get("ctx", {}).get("error")
            loc = tuple(err["loc"]) + (inner.loc if isinstance(inner, FieldError) else ())
            line = _line_of(node, loc)
            where = f"{source}:{line}" if line else source
            path = ".".join(str(part) for part in loc) or "(top)"
            problems.append(f"{where}: {path}: {err['msg']}")
        raise error("\n".join(problems)) from None


def load_yaml_model(
    path: Path, model: type[M], error: type[ConfigFileError] = ConfigFileError
) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from exc
    return parse_yaml_model(text, model, str(path), error)


def line_at(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the value at `loc` in YAML `text` (None: not valid YAML)."""
    try:
        return _line_of(yaml.compose(text, Loader=yaml.SafeLoader), loc)
    except yaml.YAMLError:
        return None


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location, as deep as it resolves."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        else:
            child = None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line
