"""The evaluator's own knobs (environment, prefix `MAINPORT_ALERT_` and `MAINPORT_SMTP_`), kept
beside the platform's `Settings` rather than in it: only `mainport alert` reads them."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAINPORT_ALERT_", extra="ignore", frozen=True)

    eval_s: float = Field(1.0, gt=0, le=60, description="Seconds between two evaluations.")
    clear_s: float = Field(
        120.0,
        ge=0,
        description="Hysteresis: an alert resolves once its cause has been gone this long; a "
        "flap inside it continues the alert (domain/alerts.py says why).",
    )
    alertmanager_url: str | None = Field(
        None, description="Prometheus Alertmanager, e.g. http://127.0.0.1:9093 (none: not used)."
    )
    alertmanager_resend_s: float = Field(
        60.0, gt=0, description="Firing alerts are posted again this often (Alertmanager's rule)."
    )
    derive_lag_max_s: float = Field(120.0, gt=0, description="Derivation lag that alerts.")
    rejected_threshold: int = Field(
        100, ge=1, description="Rejected messages of one partner in `rejected_window_s` that alert."
    )
    rejected_window_s: int = Field(300, ge=10, le=86_400)
    sla_at_risk_s: float = Field(
        600.0, ge=0, description="Downtime budget left this month under which an SLA is at risk."
    )
    retry_max_s: float = Field(300.0, gt=0, description="Longest wait between two retries.")
    mqtt_username: str = Field("_alert", description="The evaluator's broker login.")
    mqtt_password: SecretStr | None = Field(None, description="Its password (else the file).")
    dashboard_url: str = Field("", description="Linked from notifications (generatorURL).")


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAINPORT_SMTP_", extra="ignore", frozen=True)

    host: str | None = Field(None, description="SMTP server for e-mail receivers (none: off).")
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field("mainport@localhost", description="The From address.")
    starttls: bool = Field(True, description="STARTTLS whenever the server offers it.")
    cafile: str | None = Field(
        None, description="CA bundle to verify the server (default: system)."
    )
