"""The broker connection options every MQTT driver shares (each driver adds its own topics)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["MqttSettings", "TlsSettings"]


class TlsSettings(BaseModel):
    """TLS to the broker: the CA that signed its certificate, and a client certificate where it asks for one."""

    model_config = ConfigDict(extra="forbid")

    ca_file: Path | None = None
    """PEM file of the CA(s) to trust; the system's CAs when left out."""
    cert_file: Path | None = None
    key_file: Path | None = None
    check_hostname: bool = True

    @model_validator(mode="after")
    def _key_needs_cert(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        return self


class MqttSettings(BaseModel):
    """How to reach the broker and keep the session: host, protocol, TLS, credentials, client id, QoS, buffer."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    tls: TlsSettings | None = None
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = ""
    """Empty: a random id per connection. A persistent session (``clean_start = false``) needs a fixed one."""
    clean_start: bool = True
    """False keeps the session (subscriptions and queued QoS 1/2 messages) at the broker while the gateway is away."""
    session_expiry: int = Field(0, ge=0)
    """MQTT 5: seconds the broker keeps a persistent session after a disconnect (MQTT 3.1.1: until it is cleaned)."""
    qos: Literal[0, 1, 2] = 1
    keepalive: int = Field(30, ge=5, le=65535)
    connect_timeout: float = Field(10.0, gt=0)
    """Seconds to wait for the broker's CONNACK and SUBACK before giving up (the supervisor retries)."""
    max_buffered: int = Field(10_000, ge=1)
    """Messages held between paho's network thread and the driver; past it, new messages are dropped and counted."""
    silence_s: float | None = Field(None, ge=0)
    """Seconds the device may publish nothing at all before it is reported down; None or 0: never. Each dialect sets
    its default from what the real device sends when it has nothing to report."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.clean_start and not self.client_id:
            raise ValueError("a persistent session (clean_start = false) needs a fixed client_id")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self
