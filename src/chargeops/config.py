"""Configuration from the environment (``CHARGEOPS_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chargeops.gateway.admission import UnknownStations
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

    @property
    def writers(self) -> int:
        if self.db_writers is not None:
            return 1 if is_sqlite(self.database_url) else self.db_writers
        return 1 if is_sqlite(self.database_url) else 4
