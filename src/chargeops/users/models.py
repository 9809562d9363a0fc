"""Tables owned by the users domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import UTCDateTime


class IdToken(Base):
    """An RFID card or app token. OCPP id tags are case-insensitive (CiString)."""

    __tablename__ = "id_tokens"
    __table_args__ = (Index("uq_id_tokens_id_tag_ci", text("lower(id_tag)"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_tag: Mapped[str] = mapped_column(String(64))
    # OCPP 2.0.1 IdTokenEnumType (ISO14443, eMAID, Central...); None: any type matches
    type: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))  # accepted | blocked | expired
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parent_id_tag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An API key. Only a SHA-256 digest is kept: the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
