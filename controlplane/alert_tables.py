"""The alert evaluator's own tables (alert/, issue 15), on the control plane's one MetaData so
Alembic sees them (revision 0002_alerts).

Alert state is written with plain transactions, not `db.write_tx`: it changes every few
seconds and is no registry change, so it must not bump `registry_version` (every process
would reload the registry on each alert). Times of alerts are int epoch ns, exact like the
incidents they come from.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from controlplane.tables import BigId, metadata
from controlplane.types import UtcDateTime

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),  # domain.alerts.alert_id: stable, receivers dedup
    Column("key", String(200), nullable=False),  # what it is about (domain.alerts.Condition.key)
    Column("kind", String(16), nullable=False),  # device | link | sla | rejected | platform
    Column("partner", String(32)),  # null: platform, operators only
    Column("subject", String(200), nullable=False),
    Column("cause", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # firing | resolved | suppressed
    Column("suppressed_reason", String(16)),  # maintenance | platform (while suppressed)
    Column("was_suppressed", Boolean, nullable=False, default=False),
    Column("notified", Boolean, nullable=False, default=False),  # a firing was sent
    Column("summary", Text, nullable=False),
    Column("devices", JSON, nullable=False),  # a link alert: every device behind it
    Column("port", String(80)),
    Column("since_ns", BigInteger, nullable=False),
    Column("resolved_ns", BigInteger),
    Column("clear_since_ns", BigInteger),  # hysteresis: condition absent since
    Column("acked_at", UtcDateTime),
    Column("acked_by", String(80)),
    Column("ack_comment", Text),
    Column("updated_ns", BigInteger, nullable=False),
    Index("ix_alerts_key_state", "key", "state"),
    Index("ix_alerts_partner_since", "partner", "since_ns"),
    comment="One row per alert; at most one not resolved per key (the single evaluator's rule).",
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", String(40), nullable=False, index=True),
    Column("at_ns", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),  # fire | resolve | suppress | ack | update ...
    Column("detail", JSON, nullable=False),
    comment="An alert's history, in order.",
)

alert_receivers = Table(
    "alert_receivers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),  # webhook | email | alertmanager | mqtt
    Column("partner", String(32)),  # null: an operator receiver, every alert
    Column("target", String(500), nullable=False),  # URL, e-mail address
    Column("secret", Text),  # webhook signing secret, Fernet-encrypted (alert/secrets.py)
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    comment="Where notifications go; a partner receiver gets that partner's alerts only.",
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),  # the alert's notification number: 1 = firing
    Column("event", String(16), nullable=False),  # firing | resolved | update
    Column("receiver", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_ns", BigInteger, nullable=False),
    Column("delivered_ns", BigInteger),
    Column("last_error", Text),
    Index("ix_alert_deliveries_pending", "receiver", "delivered_ns", "next_ns"),
    Index("uq_alert_deliveries_once", "alert_id", "seq", "receiver", unique=True),
    comment="The outbox: one row per notification per receiver, written in the transaction "
    "that changes the alert, so a restart neither loses nor repeats one.",
)
