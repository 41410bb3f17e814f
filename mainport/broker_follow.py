"""The broker's rights follow the live registry: a partner added can publish with the logins
issued for it, a retired one's logins lose their rights, within `registry_poll_s` of the commit.

Who runs it: the process that holds the broker's admin login (access.broker.admin_password) —
the `mainport up` supervisor (mainport/up.py). The ingest never: it needs no right beyond its
own login, and a compromised ingest must not be able to change anyone's.
"""

from __future__ import annotations

from collections.abc import Callable

from controlplane.live import LiveRegistry
from controlplane.snapshot import Snapshot
from domain.registry import Registry


def follow_broker(
    source: LiveRegistry, apply: Callable[[Registry], object], say: Callable[[str], None]
) -> None:
    """Call `apply(registry)` (access.broker.sync_broker / apply_access) after every change
    `source` reads, in its poll thread. A failure is reported and the next change tries
    again: the broker keeps the rights it had, never none."""

    def follow(snapshot: Snapshot) -> None:
        try:
            apply(snapshot.registry)
        except Exception as exc:
            say(f"broker rights not updated to registry version {snapshot.version}: {exc}")

    source.on_change(follow)
