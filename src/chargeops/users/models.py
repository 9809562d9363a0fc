"""Tables owned by the users domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false, text
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
    # whose it is: a driver's card, a fleet's card (a fleet manager sees it), or neither
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdTokenSite(Base):
    """A site a token may charge at. A token with no rows here may charge everywhere, so
    a site that tokens are kept to cannot be deleted (that would free them everywhere)."""

    __tablename__ = "id_token_sites"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("id_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True, index=True)


class StationLocalList(Base):
    """The local authorization list a station holds, as far as we know: the version it
    confirmed last (by accepting a SendLocalList, or answering GetLocalListVersion).
    Each push to a station takes the next version after this one."""

    __tablename__ = "station_local_lists"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int | None] = mapped_column(Integer)  # after the last full list we sent
    # a change did not reach it (it was offline, or refused an update): it gets a full
    # list when it next connects
    stale: Mapped[bool] = mapped_column(Boolean, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An API key. Only a SHA-256 digest is kept: the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # whose key it is: it acts with the roles below that its user also holds; a key of
    # no user (made by `apikey create` before users existed) acts with its roles alone
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    roles: Mapped[str] = mapped_column(String(200), server_default="admin")
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Organization(Base):
    """Who owns users and tokens: the operator itself, or a fleet company."""

    __tablename__ = "organizations"
    __table_args__ = (Index("uq_organizations_name_ci", text("lower(name)"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    """A person who logs in: staff, fleet managers and drivers."""

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email_ci", text("lower(email)"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id
    status: Mapped[str] = mapped_column(String(16))  # active | disabled
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated core.access.Role
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginSession(Base):
    """One login: its refresh token (only a digest is kept; a new one on every refresh)
    and whether it was logged out. Access tokens name their session, so logging out
    ends them too."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
