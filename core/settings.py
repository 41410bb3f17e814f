"""The one `Settings` object: environment (prefix ``MAINPORT_``) over defaults.

Created once by the CLI and passed down explicitly; nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, TypedDict
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    env: Literal["development", "production"] = "development"

    partners_file: Path = Path("config/partners.yaml")
    data_dir: Path = Path("var")

    mqtt_host: str = "127.0.0.1"
    mqtt_port: Port = Field(1883, ge=1, le=65535)
    mqtt_root: str = Field("mainport", pattern=SLUG_PATTERN)
    # The ingest's own broker account. `mainport up` issues a fresh password per run and hands
    # it to its children in the environment; in production it comes from a secret store.
    mqtt_username: str = "_ingest"
    mqtt_password: SecretStr | None = None
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600)
    # MQTT over TLS beside the plain listener; 0 turns it off. Without a cert and key of your
    # own, `mainport up` makes a local CA and a server certificate under `var/tls/`.
    mqtt_tls_port: int = Field(8883, ge=0, le=65535)
    # Where the TLS listener binds; default the plain listener's host. In production, bind TLS
    # to the network (0.0.0.0) and keep plain MQTT on loopback for the platform's own services.
    mqtt_tls_host: str | None = None
    mqtt_tls_certfile: Path | None = None
    mqtt_tls_keyfile: Path | None = None

    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = Field("mainport", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_timeout_s: float = Field(10.0, gt=0)
    # Raw points are kept a little over a year: the ingest accepts timestamps up to one year old
    # (SPEC), and a monthly report for the same month last year must still be answerable.
    influx_raw_retention: str = Field("400d", pattern=r"^(INF|\d+[hdw])$")

    # The deriver re-reads markers this far behind its cursor: longer than an InfluxDB write
    # can take (markers are stamped before the write) plus clock skew between ingest hosts.
    derive_lag_s: float = Field(30.0, ge=1.0, le=3600.0)
    derive_poll_s: float = Field(1.0, ge=0.05, le=60.0)
    api_host: str = "127.0.0.1"
    api_port: Port = Field(8000, ge=1, le=65535)
    # Most points one telemetry request returns: bounds the answer's size and InfluxDB's work.
    api_max_points: int = Field(10_000, ge=1, le=1_000_000)
    # Longest uptime/usage window one request may ask for (a year and a month, for reports).
    api_max_window_days: int = Field(400, ge=1, le=3650)

    ingest_group: str = Field("mainport-ingest", pattern=SLUG_PATTERN)
    ingest_client_id: str = Field("mainport-ingest-1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Points per InfluxDB write. 10,000 (about 1 MB) costs influxd ~15 % less CPU per point
    # than 5000 on the 2-core bench (bench/ingest.py); batches are also cut at 8 MiB.
    ingest_batch_size: int = Field(10_000, ge=1, le=100_000)
    ingest_batch_age_ms: int = Field(250, ge=1, le=60_000)
    # While InfluxDB is down, acked batches wait on disk (<data dir>/spool/<client id>/); when
    # the spool is full the ingest stops acking and the broker keeps the rest. 1 GiB holds
    # about 5M points (~200 bytes each), over an hour at 1000 messages/s.
    ingest_spool_max_bytes: int = Field(1024**3, ge=64 * 1024)
    # Line protocol held in memory between the MQTT thread and the writer (ingest/inbox.py).
    # Past it the ingest stops reading from the broker, which keeps the rest: this is what
    # bounds the ingest's memory (measured: 16 MiB here, 110 MB RSS in all; 53 MB idle).
    ingest_max_pending_bytes: int = Field(16 * 1024**2, ge=1024**2)
    # Local copy of the dead letters (<data dir>/dead-letters/), rotated at half of this.
    ingest_dead_letter_max_bytes: int = Field(64 * 1024**2, ge=64 * 1024)
    # Where the ingest serves its Prometheus metrics on loopback; the API's /metrics appends them.
    ingest_metrics_port: int | None = Field(None, ge=1, le=65535)
    # Budgets per partner (domain/budgets.py), enforced by each ingest before InfluxDB; a
    # partner's `budgets:` in the registry overrides them. Set where no real partner meets them:
    # distinct metric names one device may ever use (a valid message carries up to 256) ...
    ingest_budget_metrics_per_device: int = Field(
        DEFAULT_LIMITS.metrics_per_device, ge=1, le=100_000
    )
    # ... distinct metric names all of a partner's devices may use together ...
    ingest_budget_metric_names: int = Field(DEFAULT_LIMITS.metric_names, ge=1, le=1_000_000)
    # ... devices a partner may publish as without listing them (SPEC auto-registration) ...
    ingest_budget_auto_devices: int = Field(DEFAULT_LIMITS.auto_devices, ge=0, le=1_000_000)
    # ... and its sustained message and byte rate, with a burst of `burst_s` seconds of it.
    ingest_budget_messages_per_s: float = Field(DEFAULT_LIMITS.messages_per_s, gt=0, le=1_000_000)
    ingest_budget_bytes_per_s: int = Field(
        int(DEFAULT_LIMITS.bytes_per_s), ge=64 * 1024, le=10 * 1024**3
    )
    ingest_budget_burst_s: float = Field(DEFAULT_LIMITS.burst_s, ge=1.0, le=86_400.0)
    # Ingest replicas sharing the subscription: each holds every partner to 1/N of its rate.
    ingest_replicas: int = Field(1, ge=1, le=1000)

    # Timeout T = grace_factor * I: three missed reports before a device counts as down, so one
    # lost message or a slow clock never opens an incident.
    grace_factor: float = Field(3.0, ge=1.0, le=100.0)

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

    def influx_login(self) -> InfluxLogin:
        """Keyword arguments of `InfluxClient` / `AsyncInfluxClient` after url and database."""
        return {
            "username": self.influx_username,
            "password": self.influx_password.get_secret_value() if self.influx_password else None,
            "timeout_s": self.influx_timeout_s,
        }

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
        return self.data_dir / "secrets" / "api-tokens.json"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "secrets" / "mqtt-credentials.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

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
    def grants_file(self) -> Path:
        """The append-only grant log, also the audit trail of every grant and revocation."""
        return self.data_dir / "grants" / "audit.jsonl"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
