"""Answers of the self-service routes (api/routes/selfservice.py): logins, the "how to connect"
guide, and a device's debug view. No model here carries a password hash; only `IssuedLogin`
carries a password, in the one answer that issues it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ConnectOut(BaseModel):
    """Everything a device (or gateway) needs to publish, for this one login."""

    username: str
    host: str = Field(description="The broker's host name for devices")
    tls_port: int
    ca_url: str | None = Field(description="Where to download the broker's CA; null: public CA")
    get_ca: str = Field(description="A command that downloads the CA certificate")
    topics: dict[str, str]
    example_payload: str = Field(description="A telemetry message valid for the device's kind")
    mosquitto_pub: str = Field(description="A command that publishes the example payload")
    python: str = Field(description="A paho-mqtt script that connects and publishes it")


class LoginOut(BaseModel):
    username: str
    kind: Literal["device", "gateway"]
    device: str | None = None
    label: str | None = None
    issued_at: str


class IssuedLogin(LoginOut):
    password: str = Field(description="Shown once: only a hash is kept")
    broker_updated: bool = Field(
        description="False when no running broker took it yet (it will at its next reload)"
    )
    connect: ConnectOut


class GatewayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,31}$",
        description="The gateway's name; its login is PARTNER.LABEL",
    )


class Revoked(BaseModel):
    username: str
    revoked: bool
    broker_updated: bool


class StoredMessage(BaseModel):
    time: str
    type: str = Field(description="telemetry or status")
    bytes: int
    metrics: dict[str, float] | None = None
    online: bool | None = None


class RejectedMessage(BaseModel):
    time: str
    reason: str
    topic: str
    excerpt: str
    detail: str


class StatusEvent(BaseModel):
    time: str
    online: bool


class DeviceDebug(BaseModel):
    partner: str
    device: str
    kind: str
    interval_s: int
    retired_from: str | None
    state: Literal["online", "offline", "unknown"] = Field(
        description="SPEC liveness: observed within 3 intervals and not offline since"
    )
    last_seen: str | None
    last_status: StatusEvent | None
    last_will: StatusEvent | None = Field(description="The latest `offline` status")
    login: LoginOut | None = Field(description="The device's own MQTT login, if issued")
    topics: dict[str, str]
    messages: list[StoredMessage] = Field(description="Last stored messages, newest first")
    rejected: list[RejectedMessage] = Field(description="Last rejected ones, newest first")


class BulkLoginsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: list[str] = Field(min_length=1, max_length=10_000, description="Device ids")


class BulkLogin(BaseModel):
    username: str
    password: str = Field(description="Shown once")


class BulkLogins(BaseModel):
    logins: list[BulkLogin]
    broker_updated: bool
