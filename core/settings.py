"""The one `Settings` object: environment (prefix ``MAINPORT_``) over defaults.

Created once by the CLI and passed down explicitly; nothing else reads the environment (but for
the log level and the simulators' logins, which the CLI reads itself). Each field's description
is what `.env.example` says about it (core/env_example.py renders the file from this class).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, TypedDict
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.influx_logins import (
    DEFAULT_USERNAMES,
    ROLES,
    USERNAME_PATTERN,
    InfluxUser,
    Role,
    load_logins,
)
from domain.budgets import DEFAULT_LIMITS, Limits
from domain.registry import SLUG_PATTERN

Port = int


class InfluxLogin(TypedDict):
    """Who the clients log in as, and how long they wait (Settings.influx_login)."""

    username: str | None
    password: str | None
    timeout_s: float


class Settings(BaseSettings):
    """Every knob of the platform, with the defaults of the local stack."""

    model_config = SettingsConfigDict(env_prefix="MAINPORT_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses to start without the secrets it needs "
        "(MAINPORT_MQTT_PASSWORD; MAINPORT_INFLUX_PASSWORD for an InfluxDB off this host).",
    )

    partners_file: Path = Field(
        Path("config/partners.yaml"),
        description="The partner registry: partners, devices, ports, maintenance (no secrets).",
    )
    data_dir: Path = Field(
        Path("var"),
        description="Run-time data: broker and InfluxDB data of the local stack, logs, spool, "
        "dead letters, hashed secrets, grants, the local TLS CA.",
    )

    database_url: SecretStr | None = Field(
        None,
        description="The control-plane database (registry, logins, tokens, grants, audit): a "
        "SQLAlchemy URL, e.g. postgresql+psycopg://mainport@db/mainport for several hosts; "
        "default SQLite at DATA_DIR/mainport.db. Secret: it may hold a password.",
    )
    registry_poll_s: float = Field(
        0.5,
        gt=0,
        le=10,
        description="How often each running process checks the registry's version for a "
        "committed change (controlplane/snapshot.py); a change applies within about this.",
    )

    mqtt_host: str = Field("127.0.0.1", description="The broker's plain MQTT listener.")
    mqtt_port: Port = Field(1883, ge=1, le=65535, description="Port of the plain MQTT listener.")
    mqtt_root: str = Field(
        "mainport", pattern=SLUG_PATTERN, description="First level of every MQTT topic."
    )
    mqtt_username: str = Field(
        "_ingest",
        description="The broker login of the ingest (and of `mainport record`).",
    )
    mqtt_password: SecretStr | None = Field(
        None,
        description="Its password. `mainport up` issues a fresh one per run and hands it to its "
        "children in the environment; in production it comes from a secret store.",
    )
    mqtt_keepalive_s: int = Field(
        30, ge=5, le=3600, description="MQTT keepalive of the platform's own clients, seconds."
    )
    mqtt_tls_port: int = Field(
        8883,
        ge=0,
        le=65535,
        description="MQTT over TLS beside the plain listener; 0 turns it off.",
    )
    mqtt_tls_host: str | None = Field(
        None,
        description="Where the TLS listener binds; default the plain listener's host. In "
        "production, bind TLS to the network (0.0.0.0) and keep plain MQTT on loopback for the "
        "platform's own services.",
    )
    mqtt_tls_certfile: Path | None = Field(
        None,
        description="Server certificate chain for TLS (set with the key). Without both, "
        "`mainport up` makes a local CA and a server certificate under <data dir>/tls/.",
    )
    mqtt_tls_keyfile: Path | None = Field(
        None, description="Its private key, readable by the broker's user only."
    )

    collector_mqtt_username: str = Field(
        "_network", description="The broker login of `mainport collect` (the SPEC `_network`)."
    )
    collector_mqtt_password: SecretStr | None = Field(
        None, description="Its password (`mainport credentials issue _network` prints one)."
    )
    snmp_credentials_file: Path | None = Field(
        None,
        description="The SNMP credentials (communities, v3 USM keys) the switches of the registry "
        "name; 0600. Default: <data dir>/secrets/snmp-credentials.yaml.",
    )
    collector_metrics_port: int = Field(
        9117, ge=0, le=65535, description="`mainport collect`'s Prometheus /metrics; 0: none."
    )
    collector_metrics_host: str = Field(
        "127.0.0.1", description="Where `mainport collect` serves /metrics (0.0.0.0 in containers)."
    )

    influx_url: str = Field(
        "http://127.0.0.1:8086", description="InfluxDB's v1 HTTP API (/write, /query)."
    )
    influx_db: str = Field(
        "mainport", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="The database."
    )
    influx_username: str | None = Field(
        None,
        description="This process's own InfluxDB login, when given: wins over the role logins "
        "below (compose sets one per service). Without it, a process takes its role's password "
        "from the settings below, else the local stack's generated logins "
        "(core/influx_logins.py), else none.",
    )
    influx_password: SecretStr | None = Field(None, description="Its password.")
    influx_admin_username: str = Field(
        DEFAULT_USERNAMES["admin"],
        pattern=USERNAME_PATTERN,
        description="InfluxDB admin, used only by `mainport influx-setup` / `mainport up` to "
        "create the database, retention policies and the role users.",
    )
    influx_admin_password: SecretStr | None = Field(None, description="Its password.")
    influx_writer_username: str = Field(
        DEFAULT_USERNAMES["writer"],
        pattern=USERNAME_PATTERN,
        description="The ingest's InfluxDB login (WRITE on the database).",
    )
    influx_writer_password: SecretStr | None = Field(None, description="Its password.")
    influx_deriver_username: str = Field(
        DEFAULT_USERNAMES["deriver"],
        pattern=USERNAME_PATTERN,
        description="The deriver's InfluxDB login (ALL on the database: it reads raw data and "
        "writes with SELECT ... INTO).",
    )
    influx_deriver_password: SecretStr | None = Field(None, description="Its password.")
    influx_reader_username: str = Field(
        DEFAULT_USERNAMES["reader"],
        pattern=USERNAME_PATTERN,
        description="The API's and Grafana's InfluxDB login (READ on the database).",
    )
    influx_reader_password: SecretStr | None = Field(None, description="Its password.")
    influx_timeout_s: float = Field(
        10.0, gt=0, description="How long one InfluxDB request may take, seconds."
    )
    influx_raw_retention: str = Field(
        "400d",
        pattern=r"^(INF|\d+[hdw])$",
        description="How long raw points are kept: a little over a year, because the ingest "
        "accepts timestamps up to one year old (SPEC) and a monthly report for the same month "
        "last year must still be answerable.",
    )

    derive_lag_s: float = Field(
        30.0,
        ge=1.0,
        le=3600.0,
        description="The deriver re-reads markers this far behind its cursor: longer than an "
        "InfluxDB write can take (markers are stamped before the write) plus clock skew "
        "between ingest hosts.",
    )
    derive_poll_s: float = Field(
        1.0, ge=0.05, le=60.0, description="How often the deriver looks for new markers, seconds."
    )
    api_host: str = Field("127.0.0.1", description="Where the API and dashboard listen.")
    api_port: Port = Field(8000, ge=1, le=65535, description="Port of the API and dashboard.")
    api_max_points: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Most points one telemetry request returns: bounds the answer's size and "
        "InfluxDB's work.",
    )
    api_max_window_days: int = Field(
        400,
        ge=1,
        le=3650,
        description="Longest uptime/usage window one request may ask for (a year and a month, "
        "for reports).",
    )
    access_log: bool = Field(
        True,
        description="Log every read of a partner's data through the API (who, what, when) to "
        "the control-plane database, in batches every half second. Off only to measure what it "
        "costs (bench/export.py).",
    )
    api_exports_per_partner: int = Field(
        2,
        ge=1,
        le=100,
        description="Exports one partner may run at once on one API process; one more is "
        "answered 429 (each export is an InfluxDB reader for as long as it streams).",
    )
    api_max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=64 * 1024**2,
        description="Largest request body the API reads, checked before authentication "
        "(api/guards.py). Its writes are a few hundred bytes; 64 KiB leaves room and bounds an "
        "attacker.",
    )
    api_auth_failures_max: int = Field(
        20,
        ge=1,
        le=100_000,
        description="Failed logins (a token presented and refused) per client address in the "
        "window below; past it, that address gets 429 with Retry-After.",
    )
    api_auth_failures_window_s: float = Field(
        60.0, gt=0, le=86_400, description="The sliding window of failed logins, seconds."
    )
    api_grant_changes_per_minute: int = Field(
        30,
        ge=1,
        le=100_000,
        description="Grant changes (give or revoke) per token per minute: each rewrites and "
        "reloads the broker.",
    )

    ingest_group: str = Field(
        "mainport-ingest",
        pattern=SLUG_PATTERN,
        description="MQTT shared-subscription group: ingest processes in one group split the "
        "messages between them.",
    )
    ingest_client_id: str = Field(
        "mainport-ingest-1",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="The ingest's MQTT client id, unique per ingest process: its persistent "
        "session (the messages the broker queues for it) and its spool are keyed by it.",
    )
    ingest_batch_size: int = Field(
        10_000,
        ge=1,
        le=100_000,
        description="Points per InfluxDB write. 10,000 (about 1 MB) costs influxd ~15 % less CPU "
        "per point than 5000 on the 2-core bench (bench/ingest.py); batches are also cut at "
        "8 MiB.",
    )
    ingest_batch_age_ms: int = Field(
        250,
        ge=1,
        le=60_000,
        description="Oldest a batch may get before it is written, milliseconds.",
    )
    ingest_spool_max_bytes: int = Field(
        1024**3,
        ge=64 * 1024,
        description="While InfluxDB is down, acked batches wait on disk (<data dir>/spool/"
        "<client id>/); when the spool is full the ingest stops acking and the broker keeps the "
        "rest. 1 GiB holds about 5M points (~200 bytes each), over an hour at 1000 messages/s.",
    )
    ingest_max_pending_bytes: int = Field(
        16 * 1024**2,
        ge=1024**2,
        description="Line protocol held in memory between the MQTT thread and the writer "
        "(ingest/inbox.py). Past it the ingest stops reading from the broker, which keeps the "
        "rest: this is what bounds the ingest's memory (measured: 16 MiB here, 110 MB RSS in "
        "all; 53 MB idle).",
    )
    ingest_dead_letter_max_bytes: int = Field(
        64 * 1024**2,
        ge=64 * 1024,
        description="Local copy of the dead letters (<data dir>/dead-letters/), rotated at half "
        "of this.",
    )
    ingest_spool_path: Path | None = Field(
        None,
        description="Where the ingest spools (default <data dir>/spool). Put it on another disk "
        "than InfluxDB's data: a full InfluxDB disk then leaves the spool room to take the "
        "backlog, instead of pushing it back into the broker's memory (docs/failures.md).",
    )
    influx_data_path: Path | None = Field(
        None,
        description="InfluxDB's data of the local stack (default <data dir>/influxdb); also the "
        "disk whose free space readiness checks. With compose: the influxdb volume's mount.",
    )
    disk_min_free_bytes: int = Field(
        1024**3,
        ge=0,
        description="Below this much free space on the spool's or InfluxDB's disk, readiness "
        "fails and the platform health raises `disk_low`, before the disk fills (0: no check).",
    )
    influx_restart_after_s: float = Field(
        30.0,
        ge=1.0,
        description="`mainport up` restarts an influxd that answers but has refused the "
        "ingest's writes this long with room on its disk (stuck after a full disk), with a "
        "doubling backoff between restarts.",
    )
    ingest_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Where the ingest serves its Prometheus metrics on loopback; the API's "
        "/metrics appends them. Unset: no ingest metrics endpoint.",
    )
    ingest_budget_metrics_per_device: int = Field(
        DEFAULT_LIMITS.metrics_per_device,
        ge=1,
        le=100_000,
        description="Budget per partner (domain/budgets.py), enforced by each ingest before "
        "InfluxDB; a partner's `budgets:` in the registry overrides it: distinct metric names "
        "one device may ever use (a valid message carries up to 256).",
    )
    ingest_budget_metric_names: int = Field(
        DEFAULT_LIMITS.metric_names,
        ge=1,
        le=1_000_000,
        description="Budget: distinct metric names all of a partner's devices may use together "
        "(InfluxDB's field keys are shared by all partners).",
    )
    ingest_budget_auto_devices: int = Field(
        DEFAULT_LIMITS.auto_devices,
        ge=0,
        le=1_000_000,
        description="Budget: devices a partner may publish as without listing them (SPEC "
        "auto-registration).",
    )
    ingest_budget_messages_per_s: float = Field(
        DEFAULT_LIMITS.messages_per_s,
        gt=0,
        le=1_000_000,
        description="Budget: a partner's sustained message rate; past its burst, messages are "
        "refused (rate_limited), not queued: one shared ingest cannot slow one partner alone.",
    )
    ingest_budget_bytes_per_s: int = Field(
        int(DEFAULT_LIMITS.bytes_per_s),
        ge=64 * 1024,
        le=10 * 1024**3,
        description="Budget: a partner's sustained payload bytes per second.",
    )
    ingest_budget_burst_s: float = Field(
        DEFAULT_LIMITS.burst_s,
        ge=1.0,
        le=86_400.0,
        description="The rate budgets' bucket holds this many seconds of the rate (the burst).",
    )
    ingest_replicas: int = Field(
        1,
        ge=1,
        le=1000,
        description="Ingest replicas sharing the subscription: each holds every partner to 1/N "
        "of its rate budget.",
    )

    retain_username: str = Field(
        "_retain",
        description="The retain guard's broker login (ingest/retained.py): it sees every "
        "retained message and clears a partner's past its budget.",
    )
    retain_password: SecretStr | None = Field(
        None, description="Its password (`mainport up` issues one per run)."
    )
    retain_max_messages: int = Field(
        10_000,
        ge=1,
        description="Retained messages the broker may hold for one partner: far above one "
        "retained status per device.",
    )
    retain_max_bytes: int = Field(
        64 * 1024**2,
        ge=64 * 1024,
        description="Bytes of retained messages the broker may hold for one partner (the broker "
        "caps each message at 65 KiB).",
    )

    grace_factor: float = Field(
        3.0,
        ge=1.0,
        le=100.0,
        description="Timeout T = grace_factor * interval_s: three missed reports before a device "
        "counts as down, so one lost message or a slow clock never opens an incident.",
    )

    # --- alerts (`mainport alert`, docs/alerts.md) ---------------------------------------------
    alert_eval_s: float = Field(
        1.0, gt=0, le=60, description="Alerts: seconds between evaluations."
    )
    alert_clear_s: float = Field(
        120.0,
        ge=0,
        description="Alerts: one resolves once its cause has been gone this long; a flap inside "
        "it continues the alert instead of paging again (hysteresis).",
    )
    alert_alertmanager_url: str | None = Field(
        None, description="Prometheus Alertmanager to post alerts to, e.g. http://127.0.0.1:9093."
    )
    alert_alertmanager_resend_s: float = Field(
        60.0, gt=0, description="Alerts: firing ones are posted to Alertmanager again this often."
    )
    alert_derive_lag_max_s: float = Field(
        120.0, gt=0, description="Alerts: derivation lag (seconds) that raises a platform alert."
    )
    alert_rejected_threshold: int = Field(
        100, ge=1, description="Alerts: rejected messages of one partner in the window that alert."
    )
    alert_rejected_window_s: int = Field(
        300, ge=10, le=86_400, description="Alerts: the window for rejected-message bursts."
    )
    alert_sla_at_risk_s: float = Field(
        600.0,
        ge=0,
        description="Alerts: an SLA is at risk when less downtime budget (seconds) is left "
        "for the month.",
    )
    alert_retry_max_s: float = Field(
        300.0, gt=0, description="Alerts: longest wait between two delivery retries (backoff)."
    )
    alert_mqtt_username: str = Field(
        "_alert",
        description="Alerts: the evaluator's broker login (publishes {root}/{partner}/_alerts).",
    )
    alert_mqtt_password: SecretStr | None = Field(
        None, description="Its password; none: no MQTT notifications."
    )
    alert_dashboard_url: str = Field(
        "", description="Alerts: the dashboard's public URL, linked from notifications."
    )
    smtp_host: str | None = Field(None, description="SMTP server for e-mail alert receivers.")
    smtp_port: int = Field(587, ge=1, le=65535, description="Its port.")
    smtp_username: str | None = Field(None, description="SMTP login (none: no AUTH).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_sender: str = Field("mainport@localhost", description="From address of alert e-mail.")
    smtp_starttls: bool = Field(True, description="STARTTLS whenever the SMTP server offers it.")
    smtp_cafile: Path | None = Field(
        None, description="CA bundle that verifies the SMTP server (default: the system's)."
    )

    @field_validator("mqtt_host", "api_host")
    @classmethod
    def _host_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("influx_url")
    @classmethod
    def _influx_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _tls_consistent(self) -> Settings:
        if (self.mqtt_tls_certfile is None) != (self.mqtt_tls_keyfile is None):
            raise ValueError("MAINPORT_MQTT_TLS_CERTFILE and _KEYFILE go together: set both")
        if self.mqtt_tls_port == self.mqtt_port:
            raise ValueError("MAINPORT_MQTT_TLS_PORT must differ from MAINPORT_MQTT_PORT")
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production":
            if self.mqtt_password is None:
                raise ValueError("MAINPORT_MQTT_PASSWORD must be set when MAINPORT_ENV=production")
            host = urlsplit(self.influx_url).hostname or ""
            if not _is_loopback(host) and self.influx_password is None:
                raise ValueError(
                    "MAINPORT_INFLUX_PASSWORD must be set for a non-loopback InfluxDB in production"
                )
        return self

    def influx_login(self, role: Role) -> InfluxLogin:
        """Keyword arguments of `InfluxClient` / `AsyncInfluxClient` after url and database,
        for a process in `role` (core/influx_logins.py says what each role may do)."""
        user = self.influx_user(role)
        return {
            "username": user.username if user else None,
            "password": user.password if user else None,
            "timeout_s": self.influx_timeout_s,
        }

    def influx_user(self, role: Role) -> InfluxUser | None:
        """Explicit login, else the role's configured password, else the local stack's file."""
        if self.influx_username:
            password = self.influx_password.get_secret_value() if self.influx_password else ""
            return InfluxUser(self.influx_username, password)
        configured: SecretStr | None = getattr(self, f"influx_{role}_password")
        if configured is not None:
            return InfluxUser(
                getattr(self, f"influx_{role}_username"), configured.get_secret_value()
            )
        return load_logins(self.influx_logins_file).get(role)

    def influx_users(self) -> dict[Role, InfluxUser] | None:
        """Every role's configured login, or None unless all four passwords are set."""
        users = {}
        for role in ROLES:
            password: SecretStr | None = getattr(self, f"influx_{role}_password")
            if password is None:
                return None
            users[role] = InfluxUser(
                getattr(self, f"influx_{role}_username"), password.get_secret_value()
            )
        return users

    @property
    def influx_logins_file(self) -> Path:
        """The local stack's InfluxDB logins (plaintext, 0600: InfluxDB needs the password)."""
        return self.data_dir / "secrets" / "influxdb-logins.json"

    def budget_limits(self) -> Limits:
        """The default budgets of every partner (each may set its own in the registry)."""
        return Limits(
            metrics_per_device=self.ingest_budget_metrics_per_device,
            metric_names=self.ingest_budget_metric_names,
            auto_devices=self.ingest_budget_auto_devices,
            messages_per_s=self.ingest_budget_messages_per_s,
            bytes_per_s=self.ingest_budget_bytes_per_s,
            burst_s=self.ingest_budget_burst_s,
        )

    @property
    def tokens_file(self) -> Path:
        """Former home of the API tokens, imported into the control-plane database on first
        start and then renamed `*.migrated` (access/legacy_files.py)."""
        return self.data_dir / "secrets" / "api-tokens.json"

    @property
    def credentials_file(self) -> Path:
        """Former home of the broker logins' hashes; imported like `tokens_file`."""
        return self.data_dir / "secrets" / "mqtt-credentials.json"

    @property
    def snmp_credentials_path(self) -> Path:
        return self.snmp_credentials_file or self.data_dir / "secrets" / "snmp-credentials.yaml"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def spool_dir(self) -> Path:
        return self.ingest_spool_path or self.data_dir / "spool"

    @property
    def influx_dir(self) -> Path:
        return self.influx_data_path or self.data_dir / "influxdb"

    @property
    def dead_letter_dir(self) -> Path:
        return self.data_dir / "dead-letters"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "mosquitto"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def database(self) -> str:
        """The control-plane database URL; SQLite under the data dir unless set."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'mainport.db').resolve()}"

    @property
    def registry_source(self) -> Literal["database", "file"]:
        """SPEC: the partners file governs the registry only when MAINPORT_PARTNERS_FILE is set
        explicitly; by default the database does and the file only seeds an empty one."""
        return "file" if "partners_file" in self.model_fields_set else "database"

    @property
    def grants_file(self) -> Path:
        """Former append-only grant log; imported with its history like `tokens_file`."""
        return self.data_dir / "grants" / "audit.jsonl"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
