"""API shapes of users, organizations and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from chargeops.core.access import Role, parse_roles
from chargeops.users.models import ApiKey, Organization, User

UserStatus = Literal["active", "disabled"]


def _roles(text: str) -> list[Role]:
    return sorted(parse_roles(text))


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    status: UserStatus
    roles: list[Role]
    organization_id: int | None
    has_password: bool = Field(description="false: the user cannot log in until one is set")
    locked_until: datetime | None = Field(description="locked after too many failed logins")
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: User) -> UserOut:
        return cls(
            id=row.id,
            email=row.email,
            name=row.name,
            status="disabled" if row.status == "disabled" else "active",
            roles=_roles(row.roles),
            organization_id=row.organization_id,
            has_password=row.password_hash is not None,
            locked_until=row.locked_until,
            last_login_at=row.last_login_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class UserIn(BaseModel):
    email: str = Field(max_length=254, examples=["driver@example.com"])
    name: str | None = Field(None, max_length=200, description="default: the email's first part")
    roles: list[Role] = Field(min_length=1)
    organization_id: int | None = None
    password: str | None = Field(
        None, min_length=1, max_length=1000, description="none: the user cannot log in yet"
    )


class UserPatch(BaseModel):
    """Only what is sent changes; ``organization_id: null`` takes the user out of theirs."""

    name: str | None = Field(None, min_length=1, max_length=200)
    roles: list[Role] | None = Field(None, min_length=1, description="replaces all their roles")
    status: UserStatus | None = Field(
        None, description="disabled: their logins end and their API keys stop working"
    )
    organization_id: int | None = None
    password: str | None = Field(
        None, min_length=1, max_length=1000, description="a reset: their logins end"
    )


class UserPasswordIn(BaseModel):
    current_password: str = Field(max_length=1000)
    new_password: str = Field(max_length=1000)


class OrganizationOut(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, row: Organization) -> OrganizationOut:
        return cls(id=row.id, name=row.name, created_at=row.created_at)


class OrganizationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="unique, ignoring case")


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    user_id: int | None = Field(description="whose key it is (none: a key of no user)")
    user_email: str | None
    roles: list[Role] = Field(description="it acts with those of these its user also holds")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to within a minute or so")
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey, user_email: str | None) -> ApiKeyOut:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            user_id=row.user_id,
            user_email=user_email,
            roles=_roles(row.roles),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the key itself, shown only in this answer: keep it safe")


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="who or what uses the key")
    user_id: int | None = Field(
        None, description="whose key (default: the caller's own; others' need api_keys:manage)"
    )
    roles: list[Role] | None = Field(
        None, min_length=1, description="default: all of the owner's roles"
    )
