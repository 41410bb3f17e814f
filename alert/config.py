"""The evaluator's knobs, read from the platform's one `Settings` (fields `alert_*`, `smtp_*`;
environment `MAINPORT_ALERT_*`, `MAINPORT_SMTP_*`) into two small views."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, SecretStr

from core.settings import Settings


class AlertSettings(BaseModel, frozen=True):
    eval_s: float = 1.0
    clear_s: float = 120.0
    alertmanager_url: str | None = None
    alertmanager_resend_s: float = 60.0
    derive_lag_max_s: float = 120.0
    rejected_threshold: int = 100
    rejected_window_s: int = 300
    sla_at_risk_s: float = 600.0
    retry_max_s: float = 300.0
    mqtt_username: str = "_alert"
    mqtt_password: SecretStr | None = None
    dashboard_url: str = ""

    @classmethod
    def of(cls, settings: Settings) -> AlertSettings:
        prefix = "alert_"
        return cls(**{name: getattr(settings, prefix + name) for name in cls.model_fields})


class SmtpSettings(BaseModel, frozen=True):
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "mainport@localhost"
    starttls: bool = True
    cafile: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> SmtpSettings:
        return cls(**{name: getattr(settings, "smtp_" + name) for name in cls.model_fields})
