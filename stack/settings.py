"""The one `Settings` object: environment (prefix ``MAINPORT_``) over defaults.

Created once by the CLI and passed down explicitly; nothing else reads the environment.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.registry import SLUG_PATTERN

Port = int


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

    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = Field("mainport", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_timeout_s: float = Field(10.0, gt=0)
    # Raw points are kept a little over a year: the ingest accepts timestamps up to one year old
    # (SPEC), and a monthly report for the same month last year must still be answerable.
    influx_raw_retention: str = Field("400d", pattern=r"^(INF|\d+[hdw])$")

    api_host: str = "127.0.0.1"
    api_port: Port = Field(8000, ge=1, le=65535)

    ingest_group: str = Field("mainport-ingest", pattern=SLUG_PATTERN)
    ingest_client_id: str = Field("mainport-ingest-1", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ingest_batch_size: int = Field(5000, ge=1, le=100_000)
    ingest_batch_age_ms: int = Field(250, ge=1, le=60_000)
    # Where the ingest serves its Prometheus metrics on loopback; the API's /metrics appends them.
    ingest_metrics_port: int | None = Field(None, ge=1, le=65535)

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

    @property
    def tokens_file(self) -> Path:
        return self.data_dir / "secrets" / "api-tokens.json"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "secrets" / "mqtt-credentials.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
