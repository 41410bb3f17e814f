"""Why a change to the registry was refused: one exception per kind of answer, each naming the
field and the reason, so the API can answer 404/409/422 with the message and the CLI print it."""

from __future__ import annotations

from pydantic import ValidationError


class RegistryChangeError(ValueError):
    """A refused change; `field` names what was wrong (dotted, "" when it is the whole change)."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason
        self.loc: tuple[str | int, ...] = ()
        """Where in a registry file (partners, 2, devices, 0, id), when it is about one."""


class InvalidChange(RegistryChangeError):
    """The change breaks a rule of the registry (bad value, port of another partner…): 422."""


class UnknownEntity(RegistryChangeError):
    """The change names a partner, device, port or window that does not exist: 404."""


class ConflictingChange(RegistryChangeError):
    """The change collides with what is recorded: an id in use or retired (ids are never
    reused), an effective time before the entity's latest recorded change: 409."""


class GovernedByFile(RegistryChangeError):
    """The registry's source of truth is the partners file (`MAINPORT_PARTNERS_FILE` set
    explicitly): entity writes go through the file and `mainport registry apply`: 409."""


def from_validation(exc: ValidationError, prefix: str = "") -> InvalidChange:
    """The first problem of a pydantic error as an InvalidChange naming its field."""
    from domain.yaml_model import FieldError

    err = exc.errors()[0]
    inner = err.get("ctx", {}).get("error")
    loc = tuple(err["loc"]) + (inner.loc if isinstance(inner, FieldError) else ())
    field = ".".join(str(p) for p in loc)
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return InvalidChange(str(err["msg"]).removeprefix("Value error, "), field)


def refuse_in_file_mode(source: str, what: str) -> None:
    """Raise GovernedByFile for an entity write when the file is the source of truth."""
    if source == "file":
        raise GovernedByFile(
            f"the registry is governed by the partners file (MAINPORT_PARTNERS_FILE is set): "
            f"change {what} in the file and run `mainport registry apply FILE`"
        )
