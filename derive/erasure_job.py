"""The deriver that also carries out confirmed erasure requests, between two of its steps.

Between steps, because the deriver keeps every subject's marks in memory and writes derived
records from them: erasing while a step runs could see a step write the device's records back.
Here the erasure and the forgetting of the subject's marks happen while no step runs, and the
next step derives without them. Safe with replicas: a request is recorded done once
(controlplane/erasure_requests.py), and erasing again what is gone changes nothing.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from controlplane import erasure_requests
from derive.deriver import Deriver
from derive.erasure import ErasureBlocked, erase

log = logging.getLogger(__name__)

ACTOR = "deriver (erasure)"


class ErasingDeriver(Deriver):
    def __init__(
        self,
        *args: Any,
        control_db: Engine,
        data_dir: Path,
        dead_letter_dir: Path,
        spool_dir: Path,
        check_every_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.control_db = control_db
        self.paths = {
            "data_dir": data_dir,
            "dead_letter_dir": dead_letter_dir,
            "spool_dir": spool_dir,
        }
        self.check_every_s = check_every_s
        self._next_check = 0.0

    def step(self) -> int:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_every_s
            self.erase_confirmed()
        return super().step()

    def erase_confirmed(self) -> int:
        """Carry out every confirmed request not done yet; returns how many were done."""
        count = 0
        for req in erasure_requests.confirmed_not_done(self.control_db):
            try:
                outcome = erase(self.client, req.partner, req.device, **self.paths)
            except ErasureBlocked as exc:
                log.info("erasure %s waits: %s", req.id, exc)
                continue
            self.forget(req.partner, req.device)
            if erasure_requests.done(self.control_db, req, outcome, ACTOR):
                log.info("erasure %s done (%s)", req.id, req.what()["scope"])
                count += 1
        return count

    def forget(self, partner: str, device: str | None) -> None:
        """Drop the erased subjects' marks: the next steps derive as if they had never been."""
        self.marks = {
            key: marks
            for key, marks in self.marks.items()
            if not (
                key[1] == partner and (device is None or (key[0] == "device" and key[2] == device))
            )
        }
