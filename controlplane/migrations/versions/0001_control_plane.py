"""the control plane: registry with effective times, logins, tokens, grants, audit

Revision ID: 0001_control_plane
Revises:
Create Date: 2026-12-03 10:01:43.498256

Generated from controlplane/tables.py, then the registry_version row added.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import controlplane.types

revision: str = "0001_control_plane"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=12), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("issued_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("sha256", name=op.f("uq_api_tokens_sha256")),
    )
    op.create_table(
        "audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
        comment="Append-only: no code path updates or deletes a row.",
    )
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_partner_id"), ["partner", "id"], unique=False)

    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=14), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("grantee", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("granted_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_grantee"), ["grantee"], unique=False)
        batch_op.create_index(batch_op.f("ix_grants_owner"), ["owner"], unique=False)

    op.create_table(
        "maintenance_windows",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partner", sa.String(length=32), nullable=False),
        sa.Column("start", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_table(
        "mqtt_logins",
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("runtime", sa.Boolean(), nullable=False),
        sa.Column("issued_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_mqtt_logins")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("budgets", sa.JSON(), nullable=False),
        sa.Column("sla_target_pct", sa.Float(), nullable=True),
        sa.Column("device_quota", sa.Integer(), nullable=True),
        sa.Column("allowed_kinds", sa.JSON(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("created_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
    )
    op.create_table(
        "ports",
        sa.Column("switch", sa.String(length=32), nullable=False),
        sa.Column("port", sa.String(length=32), nullable=False),
        sa.Column("created_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("switch", "port", name=op.f("pk_ports")),
    )
    op.create_table(
        "registry_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_version")),
        comment="Bumped by every write transaction as its first statement (controlplane/db.py): "
        "processes poll it to learn of a change, and on SQLite it takes the write lock up front.",
    )
    op.create_table(
        "switches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_switches")),
    )
    op.create_table(
        "devices",
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("created_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", controlplane.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_devices_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", "id", name=op.f("pk_devices")),
    )
    op.create_table(
        "port_terms",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("switch", sa.String(length=32), nullable=False),
        sa.Column("port", sa.String(length=32), nullable=False),
        sa.Column("effective_from", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("capacity_mbps", sa.Float(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_port_terms_partner_id_partners")
        ),
        sa.ForeignKeyConstraint(
            ["switch", "port"],
            ["ports.switch", "ports.port"],
            name=op.f("fk_port_terms_switch_ports"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_port_terms")),
        sa.UniqueConstraint(
            "switch",
            "port",
            "effective_from",
            name=op.f("uq_port_terms_switch_port_effective_from"),
        ),
    )
    op.create_table(
        "device_terms",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("partner_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("effective_from", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("port", sa.String(length=32), nullable=True),
        sa.Column("switch", sa.String(length=32), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", controlplane.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id", "device_id"],
            ["devices.partner_id", "devices.id"],
            name=op.f("fk_device_terms_partner_id_devices"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_device_terms")),
        sa.UniqueConstraint(
            "partner_id",
            "device_id",
            "effective_from",
            name=op.f("uq_device_terms_partner_id_device_id_effective_from"),
        ),
    )
    version = sa.table(
        "registry_version",
        sa.column("id", sa.Integer),
        sa.column("version", sa.BigInteger),
        sa.column("changed_at", controlplane.types.UtcDateTime),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0, "changed_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("device_terms")
    op.drop_table("port_terms")
    op.drop_table("devices")
    op.drop_table("switches")
    op.drop_table("registry_version")
    op.drop_table("ports")
    op.drop_table("partners")
    op.drop_table("mqtt_logins")
    op.drop_table("maintenance_windows")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_owner"))
        batch_op.drop_index(batch_op.f("ix_grants_grantee"))

    op.drop_table("grants")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_partner_id"))
        batch_op.drop_index(batch_op.f("ix_audit_at"))

    op.drop_table("audit")
    op.drop_table("api_tokens")
