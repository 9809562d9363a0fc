"""How people choose to be told, and what they were told.

- ``/api/v1/me/notification-channels`` and ``/me/notification-settings``: every signed-in
  person (drivers too) manages their own channels, quiet hours and whether they hear
  about their own charging sessions;
  ``/api/v1/users/{user_id}/...`` does the same for someone else (alerts:manage).
- ``/api/v1/me/notifications``: the console inbox, with read marks.
- ``/api/v1/notifications``: every notification with its delivery log (alerts:manage;
  a person may open their own).

Only staff (alerts:manage) may point a webhook at a private or loopback address: from
anyone else that would let the server probe the operator's own network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from chargeops.alerts import channels, inbox, outbox
from chargeops.alerts.channel_schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    NotificationDetail,
    NotificationOut,
    NotificationStatus,
    ReadAllOut,
    SettingsIn,
    SettingsOut,
)
from chargeops.alerts.channels import ChannelKind
from chargeops.alerts.models import NotificationChannel
from chargeops.core.access import Permission, Principal
from chargeops.core.clock import utcnow
from chargeops.core.errors import Forbidden, NotFound, TooManyAttempts, Unauthorized
from chargeops.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, before_id, newest_first
from chargeops.storage.http import DbSession, requires, writer_of
from chargeops.storage.writer import Work
from chargeops.users.models import User

router = APIRouter(tags=["notifications"])
P = Permission

TEST_EVENT = "channel.test"
TESTS_PER_WINDOW = 5  # test messages per person: a test must not become a way to spam
TEST_WINDOW = timedelta(minutes=10)

_Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Manager = Annotated[Principal, requires(P.ALERTS_MANAGE)]


@dataclass(frozen=True, slots=True)
class _Owner:
    """Whose channels a request is about, and who asks."""

    user_id: int
    principal: Principal

    @property
    def staff(self) -> bool:
        return self.principal.may(P.ALERTS_MANAGE)


async def _signed_in(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized("log in, or send an API key as 'Authorization: Bearer KEY'")
    return principal


SignedIn = Annotated[Principal, Depends(_signed_in)]


async def _me(principal: SignedIn) -> _Owner:
    if not principal.user_id:
        raise Forbidden("this API key belongs to no user: use a user's login or key")
    return _Owner(principal.user_id, principal)


async def _managed(user_id: int, db: DbSession, principal: Manager) -> _Owner:
    if await db.get(User, user_id) is None:
        raise NotFound(f"user {user_id} does not exist")
    return _Owner(user_id, principal)


Me = Annotated[_Owner, Depends(_me)]


def _channel_routes(prefix: str, owner: Callable[..., Awaitable[_Owner]], whose: str) -> None:
    """The channel and quiet-hour routes, for oneself and for another person alike."""
    channels_path = f"{prefix}/notification-channels"

    @router.get(channels_path, response_model=list[ChannelOut], summary=f"{whose} channels")
    async def list_channels(db: DbSession, who: _Owner = Depends(owner)) -> list[ChannelOut]:
        """With no channel at all, alerts go to the console and the account's email."""
        return [ChannelOut.of(row) for row in await channels.channels_of(db, who.user_id)]

    @router.post(
        channels_path,
        response_model=ChannelOut,
        status_code=201,
        summary=f"Add a channel for {whose.lower()} notifications (a webhook's secret is "
        "shown once)",
    )
    async def add_channel(
        body: ChannelIn, request: Request, who: _Owner = Depends(owner)
    ) -> ChannelOut:
        async def unit(w: Work) -> ChannelOut:
            row, secret = await channels.add_channel(
                w,
                who.user_id,
                kind=body.kind,
                address=body.address,
                secret=body.secret,
                enabled=body.enabled,
                allow_private=who.staff,
                now=utcnow(),
            )
            return ChannelOut.of(row, secret)

        return await writer_of(request).submit(unit)

    @router.patch(
        f"{channels_path}/{{channel_id}}",
        response_model=ChannelOut,
        summary=f"Change one of {whose.lower()} channels: address, enabled, webhook secret",
    )
    async def update_channel(
        channel_id: int, body: ChannelPatch, request: Request, who: _Owner = Depends(owner)
    ) -> ChannelOut:
        async def unit(w: Work) -> ChannelOut:
            row, secret = await channels.update_channel(
                w,
                who.user_id,
                channel_id,
                address=body.address,
                enabled=body.enabled,
                secret=body.secret,
                rotate_secret=body.rotate_secret,
                allow_private=who.staff,
            )
            return ChannelOut.of(row, secret)

        return await writer_of(request).submit(unit)

    @router.delete(
        f"{channels_path}/{{channel_id}}",
        status_code=204,
        response_class=Response,
        summary=f"Remove one of {whose.lower()} channels",
    )
    async def remove_channel(
        channel_id: int, request: Request, who: _Owner = Depends(owner)
    ) -> Response:
        await writer_of(request).submit(
            lambda w: channels.remove_channel(w, who.user_id, channel_id)
        )
        return Response(status_code=204)

    @router.post(
        f"{channels_path}/{{channel_id}}/test",
        response_model=NotificationOut,
        status_code=202,
        summary="Send a test message to this channel now (even if disabled, even in quiet "
        f"hours; at most {TESTS_PER_WINDOW} in {TEST_WINDOW.seconds // 60} minutes)",
    )
    async def test_channel(
        channel_id: int, request: Request, who: _Owner = Depends(owner)
    ) -> NotificationOut:
        """Answers with the queued notification: its status shows how delivery went
        (``GET /api/v1/notifications/{id}`` has each try)."""
        now = utcnow()

        async def unit(w: Work) -> NotificationOut:
            channel = await channels.get_channel(w.session, who.user_id, channel_id)
            if await inbox.count_since(w.session, who.user_id, TEST_EVENT, now - TEST_WINDOW) >= (
                TESTS_PER_WINDOW
            ):
                raise TooManyAttempts(
                    f"{TESTS_PER_WINDOW} test messages were sent in the last "
                    f"{TEST_WINDOW.seconds // 60} minutes: try again later"
                )
            message = _test_message(channel, who.principal)
            return NotificationOut.of(await outbox.notify_channel(w, channel, message, now=now))

        return await writer_of(request).submit(unit)

    settings_path = f"{prefix}/notification-settings"

    @router.get(
        settings_path,
        response_model=SettingsOut,
        summary=f"{whose} quiet hours, and whether sessions are notified",
    )
    async def get_settings(db: DbSession, who: _Owner = Depends(owner)) -> SettingsOut:
        return SettingsOut.of(await channels.settings_of(db, who.user_id))

    @router.put(
        settings_path,
        response_model=SettingsOut,
        summary=f"Set {whose.lower()} quiet hours: alerts that are not critical wait until "
        "they end (the console still shows them); and turn session notifications on or off",
    )
    async def put_settings(
        body: SettingsIn, request: Request, who: _Owner = Depends(owner)
    ) -> SettingsOut:
        quiet_from, quiet_until, zone = channels.check_settings(
            body.quiet_from, body.quiet_until, body.time_zone
        )

        async def unit(w: Work) -> SettingsOut:
            row = await channels.set_settings(
                w,
                who.user_id,
                quiet_from=quiet_from,
                quiet_until=quiet_until,
                time_zone=zone,
                session_notifications=body.session_notifications,
                now=utcnow(),
            )
            return SettingsOut.of(row)

        return await writer_of(request).submit(unit)


def _test_message(channel: NotificationChannel, by: Principal) -> outbox.Message:
    where = f" to {channel.address}" if channel.address else ""
    return outbox.Message(
        event=TEST_EVENT,
        subject="chargeops test notification",
        text=f"This is a test of your {channel.kind} channel{where}, asked for by {by.name}. "
        "If you can read it, chargeops alerts reach you here.",
        payload={"test": True, "channel_id": channel.id},
        severity="info",
        critical=True,  # asked for now: quiet hours do not apply
    )


_channel_routes("/me", _me, "Your")
_channel_routes("/users/{user_id}", _managed, "A user's")


# --- the console inbox ------------------------------------------------------------------


@router.get(
    "/me/notifications",
    response_model=Page[NotificationOut],
    summary="Your notifications, newest first (the console's by default)",
)
async def my_notifications(
    db: DbSession,
    who: Me,
    unread: Annotated[bool, Query(description="only those not marked read")] = False,
    channel: Annotated[
        ChannelKind | Literal["all"], Query(description="which channel's; all: every one")
    ] = "console",
    cursor: str | None = None,
    limit: _Limit = DEFAULT_LIMIT,
) -> Page[NotificationOut]:
    rows = await inbox.list_notifications(
        db,
        user_id=who.user_id,
        channel=None if channel == "all" else channel,
        unread=unread,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, NotificationOut.of, lambda r: r.id)


@router.post(
    "/me/notifications/read-all",
    response_model=ReadAllOut,
    summary="Mark every console notification of yours read",
)
async def read_all(request: Request, who: Me) -> ReadAllOut:
    now = utcnow()
    marked = await writer_of(request).submit(lambda w: inbox.mark_all_read(w, who.user_id, now=now))
    return ReadAllOut(marked=marked)


@router.post(
    "/me/notifications/{notification_id}/read",
    response_model=NotificationOut,
    summary="Mark one of your notifications read",
)
async def read_one(notification_id: int, request: Request, who: Me) -> NotificationOut:
    now = utcnow()

    async def unit(w: Work) -> NotificationOut:
        row = await inbox.mark_read(w, who.user_id, notification_id, now=now)
        return NotificationOut.of(row)

    return await writer_of(request).submit(unit)


# --- the delivery log -------------------------------------------------------------------


@router.get(
    "/notifications",
    response_model=Page[NotificationOut],
    summary="Every notification, newest first: who was told what, and how delivery went",
)
async def list_notifications(
    db: DbSession,
    principal: Manager,
    status: NotificationStatus | None = None,
    channel: ChannelKind | None = None,
    incident_id: int | None = None,
    user_id: int | None = None,
    cursor: str | None = None,
    limit: _Limit = DEFAULT_LIMIT,
) -> Page[NotificationOut]:
    rows = await inbox.list_notifications(
        db,
        user_id=user_id,
        channel=channel,
        status=status,
        incident_id=incident_id,
        before_id=before_id(cursor),
        limit=limit + 1,
    )
    return newest_first(rows, limit, NotificationOut.of, lambda r: r.id)


@router.get(
    "/notifications/{notification_id}",
    response_model=NotificationDetail,
    summary="One notification with each delivery attempt (yours, or any with alerts:manage)",
)
async def get_notification(
    notification_id: int, db: DbSession, principal: SignedIn
) -> NotificationDetail:
    owner = None if principal.may(P.ALERTS_MANAGE) else principal.user_id
    row = await inbox.get_notification(db, notification_id, user_id=owner)
    attempts = await inbox.attempts_of(db, row.id)
    return NotificationDetail.with_log(row, list(attempts))
