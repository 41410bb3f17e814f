"""The billed figures of closed months, frozen: written once per partner and month when the
month closes, read back for every later report of that month.

Why: a month's report is computed from raw and derived points, and raw points expire (retention
per partner, derive/retention.py) or are erased on request. The bill of a closed month must not
change with them, so the figures as they stood at closing are kept as their own records.
`freeze` inserts a row only where none is: the first writer wins, several API replicas freezing
the same month at once leave one row, and a frozen row is never updated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from controlplane.access_log_tables import monthly_reports


def frozen(engine: Engine, month: str, partners: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The frozen rows of `month` (YYYY-MM) for these partners, by partner id."""
    ids = list(partners)
    if not ids:
        return {}
    query = select(monthly_reports.c.partner, monthly_reports.c.row).where(
        monthly_reports.c.month == month, monthly_reports.c.partner.in_(ids)
    )
    with engine.connect() as conn:
        return {r.partner: dict(r.row) for r in conn.execute(query)}


def freeze(engine: Engine, month: str, rows: Mapping[str, Mapping[str, Any]], at: datetime) -> int:
    """Freeze each partner's row unless one is frozen already; returns how many were new."""
    new = 0
    for partner, row in rows.items():
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(monthly_reports).values(
                        partner=partner, month=month, row=dict(row), closed_at=at
                    )
                )
            new += 1
        except IntegrityError:
            continue  # frozen meanwhile (another API process): the first one stands
    return new
