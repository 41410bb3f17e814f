"""The ingest's side of the budgets (domain/budgets.py): what they start from.

A budget counted only in memory would start from zero at every restart, and a partner at its
budget of auto-registered devices or metric names would get a whole new budget each time. So
at start-up the ingest reads back what InfluxDB already holds — index and last values only, no
scan of the data — before it takes its first message:

- every device that has an accepted message (`messages` is written for each, telemetry and
  status alike): SHOW TAG VALUES per partner, the partner a bound parameter;
- every metric name each device has used: `last(*)` per (partner, device) of `telemetry`,
  whose non-null columns are exactly the fields that device's series has.
"""

from __future__ import annotations

import logging

from domain.budgets import Budgets
from timeseries.client import InfluxClient, Statements

log = logging.getLogger(__name__)

_DEVICES = 'SHOW TAG VALUES FROM "messages" WITH KEY = "device" WHERE "partner" = $partner'
_NAMES = 'SELECT last(*) FROM "telemetry" GROUP BY "partner", "device"'
_PREFIX = "last_"


def seed_budgets(client: InfluxClient, budgets: Budgets, partners: list[str]) -> int:
    """Record every device and metric name InfluxDB holds for `partners`; returns how many
    devices. Raises StoreError when InfluxDB cannot answer."""
    devices = 0
    statements = Statements()
    for partner in partners:
        statements.add(_DEVICES, partner=partner)
    for partner, result in zip(partners, statements.run(client), strict=True):
        for series in result:
            for _key, device in series.values:
                budgets.seed(partner, str(device))
                devices += 1
    for series in client.query(_NAMES, epoch="ns")[0]:
        partner, device = series.tags.get("partner", ""), series.tags.get("device", "")
        if not (partner and device and series.values):
            continue
        row = series.values[0]
        names = [
            column[len(_PREFIX) :]
            for column, value in zip(series.columns, row, strict=True)
            if value is not None and column.startswith(_PREFIX)
        ]
        budgets.seed(partner, device, names)
    return devices
