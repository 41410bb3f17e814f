"""One log line per state change of a dependency, instead of one per failed retry.

A process that retries InfluxDB every few seconds while it is down would otherwise write a
traceback each time, burying the one line an operator needs: when it went down, why, and when
it came back. `Outage` logs the first failure ("down since"), then a short reminder at most once
per `remind_every_s` with the count of failures so far, and on recovery one line with the
duration and the counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Outage:
    """Tracks whether `what` is down; thread-compatible for one caller thread."""

    def __init__(
        self,
        what: str,
        log: logging.Logger,
        *,
        remind_every_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.log = log
        self.remind_every_s = remind_every_s
        self.clock = clock
        self.down_since: float | None = None
        self.failures = 0
        self._reminded_at = 0.0
        self._last_reason = ""

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, reason: object, doing: str = "") -> None:
        """Record one failed attempt; logs only when this starts an outage, when the reason
        changes, or as a reminder every `remind_every_s`."""
        now = self.clock()
        self.failures += 1
        text = str(reason).splitlines()[0][:300] if str(reason) else type(reason).__name__
        note = f" ({doing})" if doing else ""
        if self.down_since is None:
            self.down_since = now
            self._reminded_at = now
            self.log.warning("%s down%s: %s", self.what, note, text)
        elif text != self._last_reason or now - self._reminded_at >= self.remind_every_s:
            self._reminded_at = now
            self.log.warning(
                "%s still down after %.0f s (%d failed attempts)%s: %s",
                self.what,
                now - self.down_since,
                self.failures,
                note,
                text,
            )
        self._last_reason = text

    def ok(self, detail: str = "") -> float | None:
        """Record a success; returns the outage's length in seconds when this ends one."""
        if self.down_since is None:
            return None
        lasted = self.clock() - self.down_since
        more = f"; {detail}" if detail else ""
        self.log.info(
            "%s recovered after %.1f s (%d failed attempts)%s",
            self.what,
            lasted,
            self.failures,
            more,
        )
        self.down_since = None
        self.failures = 0
        self._last_reason = ""
        return lasted
