"""Tables owned by alerts: rules, escalation policies, incidents and their notes, the
notifications sent (an outbox: written in the transaction that decides to notify, sent
after it by the dispatcher), people's channels, drivers' station subscriptions, and
what drivers were told about their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column

from chargeops.storage.base import Base
from chargeops.storage.types import UTCDateTime


class EscalationPolicy(Base):
    """Who hears of an incident, and who next if nobody acknowledges it in time.
    ``levels``: ``[{"after_minutes": 0, "user_ids": [1], "roles": ["operator"]}, ...]``;
    level 0 is told when the incident opens."""

    __tablename__ = "escalation_policies"
    __table_args__ = (Index("uq_escalation_policies_name_ci", text("lower(name)"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertRule(Base):
    """When to open an incident: a kind of condition (``station_offline``,
    ``connector_faulted``, ``anomaly``, ``uptime_below``, ``session_interrupted``,
    ``firmware_failed``, ``security_event``) with its parameters, where (a site, or the
    whole network), how urgent, and who hears of it."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("uq_alert_rules_name_ci", text("lower(name)"), unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severity: Mapped[str] = mapped_column(String(16))  # critical, major, minor, info
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    auto_resolve: Mapped[bool] = mapped_column(Boolean, default=True)
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


_UNRESOLVED = text("resolved_at IS NULL")


class Incident(Base):
    """A rule that fired for a station and a condition. While it is unresolved, the same
    condition firing again is counted on it (``occurrences``), never a second incident."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "uq_incidents_unresolved",
            "rule_id",
            "station_id",
            "condition",
            unique=True,
            sqlite_where=_UNRESOLVED,
            postgresql_where=_UNRESOLVED,
        ),
        Index("ix_incidents_opened", "opened_at"),
        Index("ix_incidents_escalation", "next_escalation_at"),
        Index("ix_incidents_station", "station_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)  # 0: the station as a whole
    condition: Mapped[str] = mapped_column(String(200))  # e.g. offline, fault:1, security:X
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the condition began
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(254))
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(254))  # a person, or "condition cleared"
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    level: Mapped[int] = mapped_column(Integer, default=0)  # escalation level reached
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncidentNote(Base):
    """The incident's story: comments, and each thing that happened to it (opened,
    fired again, notified, escalated, acknowledged, assigned, resolved)."""

    __tablename__ = "incident_notes"
    __table_args__ = (Index("ix_incident_notes_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    author: Mapped[str | None] = mapped_column(String(254))
    text: Mapped[str] = mapped_column(Text)


class NotificationChannel(Base):
    """A way to reach a person: their email address, a phone for SMS, a webhook (a
    driver app's, a chat tool's), or the console. A person may have several."""

    __tablename__ = "notification_channels"
    __table_args__ = (Index("ix_notification_channels_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # email, sms, webhook, console
    address: Mapped[str] = mapped_column(String(500))  # email, +E.164, URL; "" for console
    secret: Mapped[str | None] = mapped_column(String(200))  # signs a webhook's requests
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationSettings(Base):
    """A person's quiet hours (local time in ``time_zone``): alerts that are not
    critical wait until they end. ``session_notifications`` off: a driver is not told
    about their own sessions (started, stopped, interrupted, idle fees)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    quiet_from: Mapped[str | None] = mapped_column(String(5))  # HH:MM
    quiet_until: Mapped[str | None] = mapped_column(String(5))
    time_zone: Mapped[str] = mapped_column(String(64))
    session_notifications: Mapped[bool] = mapped_column(Boolean, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """One message to one address on one channel, and how its delivery went. Written in
    the transaction that decided to send it; the dispatcher sends it after the commit and
    retries with backoff, so a message is neither lost nor sent before its cause is
    stored."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_user", "user_id", "id"),
        Index("ix_notifications_incident", "incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40), unique=True)  # the same on retries
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    station_id: Mapped[str | None] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str | None] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(48))  # incident.opened, session.started...
    severity: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending, sent, failed (gave up), deferred (quiet hours)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # console ones


class DeliveryAttempt(Base):
    """Each try to deliver a notification: the delivery log."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_notification", "notification_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class StationSubscription(Base):
    """A person waiting to hear that a station (``evse_id`` 0) or one of its EVSEs is
    back in service; told once, then kept with the time they were told
    (``notified_at``: the subscription is fulfilled). One waiting subscription per
    person, station and EVSE: asking again finds it."""

    __tablename__ = "station_subscriptions"
    __table_args__ = (
        Index(
            "uq_station_subscriptions_waiting",
            "user_id",
            "station_id",
            "evse_id",
            unique=True,
            sqlite_where=text("notified_at IS NULL"),
            postgresql_where=text("notified_at IS NULL"),
        ),
        Index("ix_station_subscriptions_station", "station_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer, server_default="0")  # 0: any EVSE
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SessionNotice(Base):
    """That a driver was told one kind of thing about one session (``started``,
    ``interrupted``, ``ended``, ``idle_fee``). Claimed in the transaction that queues
    the notification: the primary key is what keeps a replayed event, or a periodic
    check meeting a bus handler, from telling anyone twice."""

    __tablename__ = "session_notices"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
