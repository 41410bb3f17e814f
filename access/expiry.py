"""Consent that expires: the job that revokes grants at their end date and applies it to the
broker.

Every API process runs one (api/app.py's lifespan), so it runs wherever the API runs — `mainport
up`, compose, several replicas behind a balancer. The API itself refuses an expired grant from
its end on whether or not the job has run (access/grants.py reads one past its end as revoked);
the job makes the revocation durable and audited (actor "system: consent expired") and takes
the topic away on the broker. With several replicas each one polls, the conditional UPDATE lets
exactly one record it, and that one syncs the broker. The broker stops delivering at most one
poll (`POLL_S`) plus one broker sync after the end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from access.grants import GrantLog
from domain.grants import Grant

log = logging.getLogger(__name__)

POLL_S = 1.0


class ConsentExpiry:
    """A daemon thread: every `poll_s`, revoke what has ended, then call `on_expired` (the broker
    sync) with what this process revoked. Errors are logged and retried at the next poll."""

    def __init__(
        self,
        grants: GrantLog,
        on_expired: Callable[[list[Grant]], None],
        *,
        poll_s: float = POLL_S,
    ) -> None:
        self.grants = grants
        self.on_expired = on_expired
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consent-expiry", daemon=True)
        self._pending: list[Grant] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_once(self) -> list[Grant]:
        """One pass: the grants this process revoked now (already applied or to retry)."""
        expired = self.grants.expire_due()
        for grant in expired:
            log.info(
                "grant %s ended at %s: %s no longer reads %s/%s",
                grant.id,
                grant.ends_at,
                grant.grantee,
                grant.owner,
                grant.device,
            )
        self._pending.extend(expired)
        if self._pending:
            self.on_expired(list(self._pending))  # raises: kept, retried next pass
            self._pending.clear()
        return expired

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.run_once()
            except Exception:  # the job must outlive a database or broker hiccup
                log.exception("consent expiry: pass failed; retrying in %.0f s", self.poll_s)
