"""data ownership: access log, frozen monthly reports, erasure requests

Revision ID: 0003_data_ownership
Revises: 0001_control_plane
Create Date: 2026-12-03 10:20:00

The tables of controlplane/access_log_tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import controlplane.types

revision: str = "0003_data_ownership"
down_revision: str | Sequence[str] | None = "0001_control_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = controlplane.types.UtcDateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reader_partner", sa.String(length=32), nullable=True),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("device", sa.String(length=200), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        comment="Appended in batches by each API process (controlplane/access_log.py); read by "
        "the partner at GET /partners/{id}/access-log.",
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_log_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_log_partner_at"), ["partner", "at"], unique=False
        )
    op.create_table(
        "monthly_reports",
        sa.Column("partner", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("row", sa.JSON(), nullable=False),
        sa.Column("closed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("partner", "month", name=op.f("pk_monthly_reports")),
        comment="The billed figures of a closed month, written once: raw data expiring or "
        "erased later never changes them.",
    )
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", UTC_TIME, nullable=False),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.Column("confirmed_at", UTC_TIME, nullable=True),
        sa.Column("done_at", UTC_TIME, nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    with op.batch_alter_table("erasure_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_requests_partner"), ["partner"], unique=False)


def downgrade() -> None:
    op.drop_table("erasure_requests")
    op.drop_table("monthly_reports")
    op.drop_table("access_log")
