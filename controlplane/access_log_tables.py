"""The control-plane tables of partners' data ownership (issue 17): who read a partner's data
(`access_log`), the billed monthly figures frozen when a month closes (`monthly_reports`), and
erasure requests with their confirmation (`erasure_requests`).

Kept apart from tables.py (the registry's schema) and migrated by their own Alembic revision
(0003_data_ownership), on the same `metadata` so one `upgrade heads` creates everything.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from controlplane.tables import BigId, metadata
from controlplane.types import UtcDateTime

ALL_PARTNERS = "*"
"""The partner of a read that covered every partner (the operator's monthly report, /live)."""

access_log = Table(
    "access_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("partner", String(32), nullable=False),  # whose data; "*": every partner's
    Column("token_id", String(64), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("role", String(16), nullable=False),  # operator | partner | grantee | other partner
    Column("reader_partner", String(32)),  # the reading token's partner; null: operator
    Column("endpoint", String(200), nullable=False),  # the route's path template
    Column("path", String(500), nullable=False),
    Column("device", String(200)),
    Column("params", JSON, nullable=False),  # the window: start, end, month, kind, metric …
    Column("status", Integer, nullable=False),
    Index(None, "partner", "at"),
    Index(None, "at"),
    comment="Appended in batches by each API process (controlplane/access_log.py); read by the "
    "partner at GET /partners/{id}/access-log.",
)

monthly_reports = Table(
    "monthly_reports",
    metadata,
    Column("partner", String(32), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM (UTC)
    Column("row", JSON, nullable=False),  # api.analytics_models.ReportRowOut as billed
    Column("closed_at", UtcDateTime, nullable=False),
    comment="The billed figures of a closed month, written once: raw data expiring or erased "
    "later never changes them.",
)

erasure_requests = Table(
    "erasure_requests",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("partner", String(32), nullable=False),
    Column("device", String(64)),  # null: all of the partner's data
    Column("reason", Text, nullable=False, default=""),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("confirmed_by", String(200)),
    Column("confirmed_at", UtcDateTime),
    Column("done_at", UtcDateTime),
    Column("outcome", JSON),  # what was erased (counts per place), never the data
    Index(None, "partner"),
)
