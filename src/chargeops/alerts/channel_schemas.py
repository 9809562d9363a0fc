"""API shapes of people's notification channels, quiet hours, notifications and station
subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chargeops.alerts.channels import DEFAULT_TIME_ZONE, ChannelKind
from chargeops.alerts.models import (
    DeliveryAttempt,
    Notification,
    NotificationChannel,
    NotificationSettings,
    StationSubscription,
)
from chargeops.alerts.outbox import link_of

NotificationStatus = Literal["pending", "deferred", "sending", "sent", "failed"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelIn(_In):
    kind: ChannelKind
    address: str = Field(
        "",
        max_length=500,
        description="email: an address; sms: a phone number in E.164 (+4917012345678); "
        "webhook: an http(s) URL; console: empty",
        examples=["oncall@example.com"],
    )
    secret: str | None = Field(
        None,
        max_length=200,
        description="webhook only: the key requests are signed with (HMAC-SHA256); "
        "default: generated, and shown once in the answer",
    )
    enabled: bool = True


class ChannelPatch(_In):
    address: str | None = Field(None, max_length=500)
    enabled: bool | None = None
    secret: str | None = Field(None, max_length=200, description="webhook only: a new key")
    rotate_secret: bool = Field(False, description="webhook only: generate a new key")


class ChannelOut(BaseModel):
    id: int
    user_id: int
    kind: str
    address: str
    enabled: bool
    created_at: datetime
    secret: str | None = Field(
        None,
        description="a webhook's signing key, only in the answer that made or changed it: "
        "keep it, it is not shown again",
    )

    @classmethod
    def of(cls, row: NotificationChannel, secret: str | None = None) -> ChannelOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            kind=row.kind,
            address=row.address,
            enabled=row.enabled,
            created_at=row.created_at,
            secret=secret,
        )


class SettingsIn(_In):
    quiet_from: str | None = Field(
        None, description="quiet hours start (HH:MM, local time); null: none", examples=["22:00"]
    )
    quiet_until: str | None = Field(
        None, description="quiet hours end (HH:MM); may be the next morning", examples=["07:00"]
    )
    time_zone: str = Field(
        DEFAULT_TIME_ZONE, max_length=64, description="IANA zone", examples=["Europe/Berlin"]
    )
    session_notifications: bool | None = Field(
        None,
        description="be told when your sessions start, stop, are interrupted or start to "
        "incur idle fees; null or absent: keep the current choice (default on)",
    )


class SettingsOut(BaseModel):
    """Quiet hours hold back alerts that are not critical, except in the console."""

    quiet_from: str | None
    quiet_until: str | None
    time_zone: str
    session_notifications: bool
    updated_at: datetime | None

    @classmethod
    def of(cls, row: NotificationSettings | None) -> SettingsOut:
        if row is None:
            return cls(
                quiet_from=None,
                quiet_until=None,
                time_zone=DEFAULT_TIME_ZONE,
                session_notifications=True,
                updated_at=None,
            )
        return cls(
            quiet_from=row.quiet_from,
            quiet_until=row.quiet_until,
            time_zone=row.time_zone,
            session_notifications=row.session_notifications,
            updated_at=row.updated_at,
        )


class NotificationOut(BaseModel):
    id: int
    delivery_id: str = Field(description="the same on every retry (X-Chargeops-Delivery)")
    user_id: int | None
    incident_id: int | None
    station_id: str | None
    channel: str
    address: str
    event: str
    severity: str | None
    subject: str
    text: str
    link: str | None
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None = Field(
        description="pending: the next try; deferred: the end of quiet hours"
    )
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationOut:
        return cls(**_fields(row))


def _fields(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "delivery_id": row.delivery_id,
        "user_id": row.user_id,
        "incident_id": row.incident_id,
        "station_id": row.station_id,
        "channel": row.channel,
        "address": row.address,
        "event": row.event,
        "severity": row.severity,
        "subject": row.subject,
        "text": row.body,
        "link": link_of(row),
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "read_at": row.read_at,
    }


class DeliveryAttemptOut(BaseModel):
    id: int
    at: datetime
    ok: bool
    status_code: int | None = Field(description="the receiver's HTTP status, if it answered")
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, row: DeliveryAttempt) -> DeliveryAttemptOut:
        return cls.model_validate(row, from_attributes=True)


class NotificationDetail(NotificationOut):
    delivery_log: list[DeliveryAttemptOut] = Field(description="every try, oldest first")

    @classmethod
    def with_log(cls, row: Notification, log: list[DeliveryAttempt]) -> NotificationDetail:
        return cls(**_fields(row), delivery_log=[DeliveryAttemptOut.of(a) for a in log])


class ReadAllOut(BaseModel):
    marked: int = Field(description="how many notifications were unread")


class SubscriptionIn(_In):
    evse_id: int | None = Field(
        None, ge=1, description="wait for this EVSE; null or absent: for any EVSE of the station"
    )


class SubscriptionOut(BaseModel):
    id: int
    station_id: str
    evse_id: int | None = Field(description="null: any EVSE of the station")
    status: Literal["waiting", "fulfilled"]
    created_at: datetime
    fulfilled_at: datetime | None = Field(description="when you were told it is back")

    @classmethod
    def of(cls, row: StationSubscription) -> SubscriptionOut:
        return cls(
            id=row.id,
            station_id=row.station_id,
            evse_id=row.evse_id or None,
            status="waiting" if row.notified_at is None else "fulfilled",
            created_at=row.created_at,
            fulfilled_at=row.notified_at,
        )
