"""The control-plane schema, one table per kind of record. Alembic owns its evolution
(controlplane/migrations); this module is what the code reads and writes through.

Figures depend on a few attributes only — a port's partner and capacity, a device's port and
interval — and those live in `*_terms` tables, one row per change with the time it takes effect
(`effective_from`), never updated in place: a report for a past window reads the row in force
then (domain/registry_history.py). Everything else is a plain column. Nothing is deleted: a
retired entity keeps its row (`retired_at`) and its id is never given to another.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from controlplane.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit id that SQLite still treats as its rowid (autoincrement needs INTEGER there).
BigId = BigInteger().with_variant(Integer(), "sqlite")

registry_version = Table(
    "registry_version",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one row
    Column("version", BigInteger, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    comment="Bumped by every write transaction as its first statement (controlplane/db.py): "
    "processes poll it to learn of a change, and on SQLite it takes the write lock up front.",
)

partners = Table(
    "partners",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("budgets", JSON, nullable=False),  # domain.registry.Budgets, fields left out: defaults
    Column("sla_target_pct", Float),  # alerts: uptime below it this month fires
    Column("device_quota", Integer),  # self-service: devices a partner may register itself
    Column("allowed_kinds", JSON),  # self-service: list of kinds; null: any
    Column("retention_days", Integer),  # raw telemetry kept this long; null: platform default
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
)

devices = Table(
    "devices",
    metadata,
    Column("partner_id", String(32), ForeignKey("partners.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("auto", Boolean, nullable=False, default=False),  # registered by its first message
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
)

device_terms = Table(
    "device_terms",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("partner_id", String(32), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("effective_from", UtcDateTime, nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("port", String(32)),  # a port name of the partner's (SPEC: else its only port)
    Column("switch", String(32)),  # only where the port name is on several of its switches
    Column("retired", Boolean, nullable=False, default=False),  # from effective_from on
    Column("recorded_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["partner_id", "device_id"], ["devices.partner_id", "devices.id"]),
    UniqueConstraint("partner_id", "device_id", "effective_from"),
)

ports = Table(
    "ports",
    metadata,
    Column("switch", String(32), primary_key=True),
    Column("port", String(32), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
)

port_terms = Table(
    "port_terms",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column("switch", String(32), nullable=False),
    Column("port", String(32), nullable=False),
    Column("effective_from", UtcDateTime, nullable=False),
    Column("partner_id", String(32), ForeignKey("partners.id"), nullable=False),
    Column("capacity_mbps", Float, nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("retired", Boolean, nullable=False, default=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["switch", "port"], ["ports.switch", "ports.port"]),
    UniqueConstraint("switch", "port", "effective_from"),
)

switches = Table(
    "switches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("spec", JSON, nullable=False),  # domain.switches.Switch without its id
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
)

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("partner", String(32), nullable=False),  # a partner id or "*" (the whole network)
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),  # cancelled: no longer excluded from figures
)

mqtt_logins = Table(
    "mqtt_logins",
    metadata,
    Column("username", String(200), primary_key=True),
    Column("scope", String(64), nullable=False),  # partner id, `_network`, `_ingest`, …
    Column("device", String(64)),  # set for a device login `partner.device`
    Column("password_hash", Text, nullable=False),  # mosquitto's $7$ format, never the password
    Column("runtime", Boolean, nullable=False, default=False),  # minted by `mainport up`
    Column("issued_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("role", String(16), nullable=False),  # operator | partner
    Column("partner", String(32)),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False, default=""),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(14), primary_key=True),
    Column("owner", String(32), nullable=False),
    Column("grantee", String(32), nullable=False),
    Column("device", String(64), nullable=False),
    Column("purpose", Text, nullable=False, default=""),  # required for new grants
    Column("note", Text, nullable=False, default=""),
    Column("granted_by", String(200), nullable=False),
    Column("granted_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime),  # consent that expires: revoked by itself then
    Column("revoked_by", String(200)),
    Column("revoked_at", UtcDateTime),
    Index(None, "owner"),
    Index(None, "grantee"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(200), nullable=False),  # token id and label, or the CLI's OS user
    Column("action", String(32), nullable=False),  # create | update | retire | revoke | …
    Column("entity", String(32), nullable=False),  # partner | device | port | maintenance | …
    Column("entity_id", String(200), nullable=False),
    Column("partner", String(32)),  # whose entity it is: a partner token reads these
    Column("before", JSON),
    Column("after", JSON),
    Index(None, "partner", "id"),
    Index(None, "at"),
    comment="Append-only: no code path updates or deletes a row.",
)
