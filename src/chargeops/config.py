"""Configuration from the environment (``CHARGEOPS_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chargeops.gateway.admission import UnknownStations
from chargeops.monitoring.detectors import Thresholds
from chargeops.storage.engine import is_sqlite

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/chargeops.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARGEOPS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    host: str = Field("0.0.0.0", description="Address both servers listen on")
    http_port: int = Field(8000, ge=1, le=65535)
    ocpp_port: int = Field(9000, ge=1, le=65535)
    unknown_stations: UnknownStations = Field(
        UnknownStations.ACCEPT,
        description="What an unregistered station gets: accept, pending or reject",
    )
    heartbeat_interval: int = Field(300, ge=10, description="Seconds, sent at boot")
    offline_grace: int = Field(
        120,
        ge=30,
        description="Seconds past the heartbeat interval a silent station is still online",
    )
    ws_ping_interval: float = Field(180.0, ge=0, description="WebSocket ping every N s; 0: off")
    call_timeout: float = Field(30.0, gt=0, description="Seconds to wait for a charger's answer")
    db_writers: int | None = Field(
        None,
        ge=1,
        le=32,
        description="Concurrent group-commit writers (default: 1 on SQLite, 4 on PostgreSQL)",
    )
    db_batch_max: int = Field(256, ge=1, le=10_000)
    data_dir: Path = Field(
        Path("./var"), description="Where files stations upload (diagnostics, logs) are kept"
    )
    public_url: str | None = Field(
        None,
        description="Base URL stations reach the HTTP server at, for uploads "
        "(default: the URL the API was called at)",
    )
    max_upload_mb: int = Field(200, ge=1, le=10_000, description="Largest upload accepted")
    secret_key: str | None = Field(
        None,
        description="Signs login tokens; default: a random key kept in DATA_DIR/secret.key "
        "(every process of a cluster needs the same one)",
    )
    read_config_after_boot: bool = Field(
        True, description="Read each station's configuration after it boots"
    )
    message_log_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="Days every OCPP frame in and out is kept in the message log; 0: no log",
    )
    message_log_flush_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between the message log's batched writes (frames wait in memory)",
    )
    anomaly_thresholds: dict[str, Any] = Field(
        default_factory=dict,
        description="Anomaly detectors' thresholds as JSON, e.g. "
        '{"session_stuck_hours": 8, "disabled": ["slow_charging"]}; '
        "what is not given keeps its default",
    )
    smtp_host: str | None = Field(
        None, description="SMTP server for email notifications; unset: no email"
    )
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (587), tls (465), none (a trusted relay only)"
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str | None = Field(
        None, description="From: of notification emails, e.g. 'chargeops <alerts@example.com>'"
    )
    smtp_verify: bool = Field(True, description="Verify the SMTP server's TLS certificate")
    sms_url: str | None = Field(None, description="HTTP SMS gateway endpoint; unset: no SMS")
    sms_format: Literal["json", "form"] = "json"
    sms_to_field: str = "to"
    sms_text_field: str = "text"
    sms_sender_field: str | None = "from"
    sms_sender: str | None = None
    sms_authorization: SecretStr | None = Field(
        None, description='the whole Authorization header, e.g. "Bearer KEY"'
    )
    sms_extra: dict[str, str] = Field(
        default_factory=dict, description="static fields the gateway wants (JSON)"
    )
    notify_every: float = Field(5.0, gt=0, description="Seconds between notification job runs")
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value.startswith("sqlite://"):
            value = "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
        elif value.startswith(("postgresql://", "postgres://")):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use sqlite+aiosqlite:///path/to.db or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("anomaly_thresholds")
    @classmethod
    def _usable_thresholds(cls, value: dict[str, Any]) -> dict[str, Any]:
        Thresholds.from_mapping(value)  # names every problem at once
        return value

    @model_validator(mode="after")
    def _smtp_needs_a_sender(self) -> Settings:
        if self.smtp_host and not self.smtp_sender:
            raise ValueError(
                "set CHARGEOPS_SMTP_SENDER (the From: address) with CHARGEOPS_SMTP_HOST"
            )
        return self

    @property
    def writers(self) -> int:
        if self.db_writers is not None:
            return 1 if is_sqlite(self.database_url) else self.db_writers
        return 1 if is_sqlite(self.database_url) else 4
