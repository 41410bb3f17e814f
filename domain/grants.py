"""Data-sharing grants: partner A lets partner B read the telemetry of chosen devices of A's.

A grant is consent, so it is explicit and narrow: one owner, one grantee, one registered device
of the owner's, read-only, for a stated purpose, and — when the grantor says so — until an end
date, after which it is revoked by itself. Grants live in the control-plane database
(access/grants.py); the event form (`grant`, `revoke`) below is the format of the former
append-only file `var/grants/audit.jsonl`, still read once to migrate it (access/legacy_files.py).

Pure functions over plain data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from domain.registry import Registry

GRANT_ID_PATTERN = r"^g-[0-9a-f]{12}$"
GRANT_ID_RE = re.compile(GRANT_ID_PATTERN)
MAX_NOTE = 200
MAX_PURPOSE = 500
NOT_RECORDED = "(not recorded)"
"""How a grant from before purposes were asked for shows its empty purpose."""
EXPIRED_BY = "system: consent expired"
"""Who revoked a grant whose end date came: the audit's actor."""

GRANT = "grant"
REVOKE = "revoke"


class GrantError(ValueError):
    """A grant request or revocation that cannot be carried out; the message says why."""


class UnknownGrant(GrantError):
    """No such grant (or not one of the partner's own)."""


class AlreadyRevoked(GrantError):
    """The grant exists but was revoked before."""


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    owner: str
    grantee: str
    device: str
    granted_by: str
    granted_at: str
    note: str = ""
    revoked_by: str | None = None
    revoked_at: str | None = None
    purpose: str = ""
    # RFC 3339 UTC; None: until revoked. From then on it counts as revoked (by EXPIRED_BY).
    ends_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def concerns(self, partner: str) -> bool:
        return partner in (self.owner, self.grantee)


def grant_event(grant: Grant) -> dict[str, Any]:
    return {
        "at": grant.granted_at,
        "event": GRANT,
        "id": grant.id,
        "owner": grant.owner,
        "grantee": grant.grantee,
        "device": grant.device,
        "by": grant.granted_by,
        "note": grant.note,
    }


def revoke_event(grant: Grant, by: str, at: str) -> dict[str, Any]:
    # Owner, grantee and device are repeated so that every line reads on its own.
    return {
        "at": at,
        "event": REVOKE,
        "id": grant.id,
        "owner": grant.owner,
        "grantee": grant.grantee,
        "device": grant.device,
        "by": by,
    }


def replay(events: Iterable[Mapping[str, Any]]) -> list[Grant]:
    """Grants in the order they were given, with their revocation if any.

    Strict: an event that does not fit raises, because skipping a `revoke` would silently
    hand access back.
    """
    grants: dict[str, Grant] = {}
    for n, event in enumerate(events, start=1):
        kind = event.get("event")
        try:
            if kind == GRANT:
                if event["id"] in grants:
                    raise GrantError(f"event {n}: grant {event['id']} given twice")
                grants[event["id"]] = Grant(
                    id=str(event["id"]),
                    owner=str(event["owner"]),
                    grantee=str(event["grantee"]),
                    device=str(event["device"]),
                    granted_by=str(event["by"]),
                    granted_at=str(event["at"]),
                    note=str(event.get("note", "")),
                )
            elif kind == REVOKE:
                grant = grants.get(event["id"])
                if grant is None:
                    raise GrantError(f"event {n}: revokes unknown grant {event['id']}")
                if grant.active:
                    grants[grant.id] = replace(
                        grant, revoked_by=str(event["by"]), revoked_at=str(event["at"])
                    )
            else:
                raise GrantError(f"event {n}: unknown event {kind!r}")
        except KeyError as exc:
            raise GrantError(f"event {n}: {kind} without {exc.args[0]!r}") from None
    return list(grants.values())


def check_purpose(purpose: str) -> str:
    """The purpose of a new grant, stripped; required (consent names what it is for)."""
    purpose = purpose.strip()
    if not purpose:
        raise GrantError("purpose: say what the grantee may use the data for (required)")
    if len(purpose) > MAX_PURPOSE or not purpose.isprintable():
        raise GrantError(f"purpose: at most {MAX_PURPOSE} printable characters")
    return purpose


def shown_purpose(grant: Grant) -> str:
    return grant.purpose or NOT_RECORDED


def check_grant(registry: Registry, owner: str, grantee: str, device: str) -> None:
    """Raise GrantError unless `owner` may share registered `device` with partner `grantee`."""
    partner = registry.partner(owner)
    if partner is None:
        raise GrantError(f"unknown partner {owner!r}")
    if registry.partner(grantee) is None:
        raise GrantError(f"unknown grantee {grantee!r}: not a partner in the partners file")
    if grantee == owner:
        raise GrantError(f"{owner} already reads its own devices")
    if registry.device(owner, device) is None:
        known = ", ".join(d.id for d in partner.devices) or "none"
        raise GrantError(
            f"device {device!r} is not a registered device of {owner} (registered: {known})"
        )


def valid_now(grant: Grant, registry: Registry) -> bool:
    """An active grant whose owner, grantee and device are all still in the registry."""
    return (
        grant.active
        and registry.partner(grant.grantee) is not None
        and registry.device(grant.owner, grant.device) is not None
    )


def may_read(
    grants: Iterable[Grant], registry: Registry, reader: str, owner: str, device: str
) -> bool:
    """True when `reader` holds a valid grant on `owner`'s `device`."""
    return any(
        g.grantee == reader and g.owner == owner and g.device == device and valid_now(g, registry)
        for g in grants
    )


def telemetry_topic(root: str, owner: str, device: str) -> str:
    return f"{root}/{owner}/{device}/telemetry"


def shared_topics(grants: Iterable[Grant], registry: Registry, root: str) -> dict[str, list[str]]:
    """Per grantee, the telemetry topics it may read (sorted, no duplicates): its ACL lines."""
    topics: dict[str, set[str]] = {}
    for grant in grants:
        if valid_now(grant, registry):
            topics.setdefault(grant.grantee, set()).add(
                telemetry_topic(root, grant.owner, grant.device)
            )
    return {grantee: sorted(t) for grantee, t in topics.items()}
