"""alerts: state, history, receivers, the delivery outbox (controlplane/alert_tables.py)

Revision ID: 0002_alerts
Revises: 0001_control_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import controlplane.types

revision: str = "0002_alerts"
down_revision: str | Sequence[str] | None = "0001_control_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("partner", sa.String(32)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("suppressed_reason", sa.String(16)),
        sa.Column("was_suppressed", sa.Boolean(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("port", sa.String(80)),
        sa.Column("since_ns", sa.BigInteger(), nullable=False),
        sa.Column("resolved_ns", sa.BigInteger()),
        sa.Column("clear_since_ns", sa.BigInteger()),
        sa.Column("acked_at", controlplane.types.UtcDateTime()),
        sa.Column("acked_by", sa.String(80)),
        sa.Column("ack_comment", sa.Text()),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        comment="One row per alert; at most one not resolved per key "
        "(the single evaluator's rule).",
    )
    op.create_index("ix_alerts_key_state", "alerts", ["key", "state"])
    op.create_index("ix_alerts_partner_since", "alerts", ["partner", "since_ns"])
    op.create_table(
        "alert_events",
        sa.Column("pk", _ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(40), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_alert_events")),
        comment="An alert's history, in order.",
    )
    op.create_index(op.f("ix_alert_events_alert_id"), "alert_events", ["alert_id"])
    op.create_table(
        "alert_receivers",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("partner", sa.String(32)),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("secret", sa.Text()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", controlplane.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_receivers")),
        comment="Where notifications go; a partner receiver gets that partner's alerts only.",
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("pk", _ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("receiver", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_ns", sa.BigInteger(), nullable=False),
        sa.Column("delivered_ns", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_alert_deliveries")),
        comment="The outbox: one row per notification per receiver, written in the transaction "
        "that changes the alert, so a restart neither loses nor repeats one.",
    )
    op.create_index(
        "ix_alert_deliveries_pending", "alert_deliveries", ["receiver", "delivered_ns", "next_ns"]
    )
    op.create_index(
        "uq_alert_deliveries_once", "alert_deliveries", ["alert_id", "seq", "receiver"], unique=True
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alert_receivers")
    op.drop_table("alert_events")
    op.drop_table("alerts")
