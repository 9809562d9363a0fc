"""API shapes of id tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chargeops.users.tokens import TOKEN_STATUSES, TOKEN_TYPES, TokenView

_TYPES = ", ".join(TOKEN_TYPES)
_STATUSES = ", ".join(TOKEN_STATUSES)


class TokenChanges(BaseModel):
    """What a PATCH may change; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    type: str | None = Field(
        None, description=f"{_TYPES}; null: presented as any type (a 1.6 card)"
    )
    status: str | None = Field(None, description=_STATUSES)
    expires_at: datetime | None = Field(None, description="with a time zone; null: never")
    parent_id_tag: str | None = Field(
        None, description="group id: OCPP 1.6 parentIdTag, 2.0.1 groupIdToken"
    )
    user_id: int | None = Field(None, description="the driver it belongs to")
    organization_id: int | None = Field(None, description="the fleet it belongs to")
    site_ids: list[int] | None = Field(
        None, description="the sites it may charge at; null: every site"
    )


class TokenIn(TokenChanges):
    id_tag: str = Field(description="RFID UID, app token or eMAID (ignoring case)")
    status: str | None = Field("accepted", description=_STATUSES)


class TokenOut(BaseModel):
    id: int
    id_tag: str
    type: str | None
    status: str
    expires_at: datetime | None
    parent_id_tag: str | None
    user_id: int | None
    organization_id: int | None
    site_ids: list[int] | None = Field(description="null: it may charge at every site")
    created_at: datetime
    updated_at: datetime
    local_list_commands: list[int] = Field(
        default_factory=list,
        description="after a change: the send_local_list commands that carry it to "
        "stations holding a local list (GET /api/v1/commands/{id})",
    )

    @classmethod
    def of(cls, view: TokenView, commands: list[int] | None = None) -> TokenOut:
        t = view.token
        return cls(
            id=t.id,
            id_tag=t.id_tag,
            type=t.type,
            status=t.status,
            expires_at=t.expires_at,
            parent_id_tag=t.parent_id_tag,
            user_id=t.user_id,
            organization_id=t.organization_id,
            site_ids=view.site_ids,
            created_at=t.created_at,
            updated_at=t.updated_at,
            local_list_commands=commands or [],
        )
