"""``/notifications``: a person's notifications, their channels and quiet hours.

Everyone signed in has this page (drivers too): what the console was told for them,
newest first; the channels alerts reach them on (email, SMS, webhook, console), each
checked by ``alerts.channels`` when it is entered; and their quiet hours. A webhook's
secret is shown once, on the page that answers its creation, never again.

``/notifications/live`` streams the person's new console notifications (Server-Sent
Events) with their unread count: the bell in the frame listens to it on every page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.alerts import channels, inbox, outbox
from chargeops.alerts.channels_api import TEST_EVENT, TEST_WINDOW, TESTS_PER_WINDOW
from chargeops.alerts.models import Notification, NotificationChannel, NotificationSettings
from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput, TooManyAttempts
from chargeops.storage.http import DbSession
from chargeops.storage.writer import UnitFn, Work
from chargeops.users.models import User
from chargeops.web import live
from chargeops.web.auth import Viewer
from chargeops.web.formatting import iso, utc
from chargeops.web.frame import NavEntry, console_of, console_router, page, render, sentence
from chargeops.web.views.common import field, form_of, notice, see_other, write
from chargeops.web.views.sites import time_zones

router = console_router()
NAV = (NavEntry("Notifications", "/notifications"),)
PAGE_SIZE = 30
Person = Annotated[Viewer, page()]
Refusal = (InvalidInput, Conflict, TooManyAttempts)
KIND_LABELS = {"email": "Email", "sms": "SMS", "webhook": "Webhook", "console": "Console"}
NOTICES = {
    "read": "Every notification is marked read.",
    "added": "The channel was added.",
    "enabled": "The channel is on: alerts reach you there again.",
    "disabled": "The channel is off: alerts no longer reach you there.",
    "removed": "The channel was removed.",
    "tested": "A test message was sent to the channel: check that it arrived.",
    "settings": "Your settings were saved.",
}


def local_link(link: str | None) -> str | None:
    """A notification's link as a path on this console (links are written with the
    console's public address; the page may be reached by another)."""
    if not link:
        return None
    parts = urlsplit(link)
    if not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(slots=True)
class ChannelForm:
    """The new channel form as it was sent (drawn again when refused)."""

    kind: str = "email"
    address: str = ""


@dataclass(slots=True)
class SettingsForm:
    """The settings form: as stored, or as it was sent when refused."""

    quiet_from: str = ""
    quiet_until: str = ""
    time_zone: str = channels.DEFAULT_TIME_ZONE
    sessions: bool = True  # told about their own charging sessions

    @classmethod
    def of(cls, row: NotificationSettings | None) -> SettingsForm:
        if row is None:
            return cls()
        return cls(
            row.quiet_from or "", row.quiet_until or "", row.time_zone, row.session_notifications
        )


@router.get("/notifications")
async def notifications_page(
    request: Request,
    db: DbSession,
    viewer: Person,
    before: int | None = None,
    done: str = "",
) -> Response:
    return await _page(request, db, viewer, before=before, notice=notice(done, NOTICES))


async def _page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    *,
    before: int | None = None,
    notice: str | None = None,
    channel_error: str | None = None,
    settings_error: str | None = None,
    secret: tuple[NotificationChannel, str] | None = None,
    channel_form: ChannelForm | None = None,
    settings_form: SettingsForm | None = None,
    http_status: int = 200,
) -> Response:
    user_id = viewer.principal.user_id
    rows = await inbox.list_notifications(
        db, user_id=user_id, channel="console", before_id=before, limit=PAGE_SIZE + 1
    )
    shown: list[Notification] = list(rows[:PAGE_SIZE])
    mine = list(await channels.channels_of(db, user_id))
    user = await db.get(User, user_id)
    return render(
        request,
        "notifications.html",
        title="Notifications",
        http_status=http_status,
        items=[(n, local_link(outbox.link_of(n))) for n in shown],
        unread=await inbox.count_unread(db, user_id),
        paged=before is not None,
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
        channels=mine,
        console_reached=not mine or any(c.kind == "console" and c.enabled for c in mine),
        account_email=user.email if user else "",
        kinds=KIND_LABELS,
        time_zones=time_zones(),
        secret=secret,
        channel_form=channel_form or ChannelForm(),
        settings_form=settings_form or SettingsForm.of(await channels.settings_of(db, user_id)),
        notice=notice,
        channel_error=channel_error,
        settings_error=settings_error,
    )


@router.post("/notifications/read-all")
async def read_all(request: Request, viewer: Person) -> Response:
    user_id, now = viewer.principal.user_id, utcnow()
    await write(request, lambda w: inbox.mark_all_read(w, user_id, now=now))
    return see_other("/notifications?done=read")


# --- channels ---------------------------------------------------------------------------


@router.post("/notifications/channels")
async def add_channel(request: Request, db: DbSession, viewer: Person) -> Response:
    form = await form_of(request)
    typed = ChannelForm(field(form, "kind"), field(form, "address"))
    principal = viewer.principal

    async def unit(w: Work) -> tuple[NotificationChannel, str | None]:
        return await channels.add_channel(
            w,
            principal.user_id,
            kind=typed.kind,
            address=typed.address,
            allow_private=principal.may(Permission.ALERTS_MANAGE),  # as the API allows
            now=utcnow(),
        )

    try:
        row, secret = await write(request, unit)
    except Refusal as exc:
        return await _page(
            request,
            db,
            viewer,
            channel_error=sentence(exc.detail),
            channel_form=typed,
            http_status=exc.status,
        )
    if secret is not None:  # shown now or never: no redirect would carry it safely
        return await _page(
            request, db, viewer, notice=NOTICES["added"], secret=(row, secret), http_status=201
        )
    return see_other("/notifications?done=added#channels")


async def _channel_action(
    request: Request, db: AsyncSession, viewer: Viewer, unit: UnitFn[None], done: str
) -> Response:
    """Change one of the person's channels; a refusal draws the page again, saying why."""
    try:
        await write(request, unit)
    except Refusal as exc:
        return await _page(
            request, db, viewer, channel_error=sentence(exc.detail), http_status=exc.status
        )
    return see_other(f"/notifications?done={done}#channels")


@router.post("/notifications/channels/{channel_id}/enabled")
async def switch_channel(
    channel_id: int, request: Request, db: DbSession, viewer: Person
) -> Response:
    """Turn a channel on or off (the form says which, so a repeated post changes
    nothing more)."""
    on = field(await form_of(request), "enabled") == "1"
    user_id = viewer.principal.user_id

    async def unit(w: Work) -> None:
        await channels.update_channel(w, user_id, channel_id, enabled=on)

    return await _channel_action(request, db, viewer, unit, "enabled" if on else "disabled")


@router.post("/notifications/channels/{channel_id}/remove")
async def remove_channel(
    channel_id: int, request: Request, db: DbSession, viewer: Person
) -> Response:
    user_id = viewer.principal.user_id

    async def unit(w: Work) -> None:
        await channels.remove_channel(w, user_id, channel_id)

    return await _channel_action(request, db, viewer, unit, "removed")


@router.post("/notifications/channels/{channel_id}/test")
async def test_channel(
    channel_id: int, request: Request, db: DbSession, viewer: Person
) -> Response:
    """A test message now, whatever the hour, counted with the API's tests of the same
    person (a test must not become a way to send many messages)."""
    principal, now = viewer.principal, utcnow()

    async def unit(w: Work) -> None:
        channel = await channels.get_channel(w.session, principal.user_id, channel_id)
        sent = await inbox.count_since(w.session, principal.user_id, TEST_EVENT, now - TEST_WINDOW)
        if sent >= TESTS_PER_WINDOW:
            raise TooManyAttempts(
                f"{TESTS_PER_WINDOW} test messages were sent in the last "
                f"{TEST_WINDOW.seconds // 60} minutes: try again later"
            )
        where = f" to {channel.address}" if channel.address else ""
        message = outbox.Message(
            event=TEST_EVENT,
            subject="chargeops test notification",
            text=f"A test of your {KIND_LABELS.get(channel.kind, channel.kind)} channel"
            f"{where}, sent from the console by {principal.name}. If you read this, "
            "chargeops alerts reach you here.",
            payload={"test": True, "channel_id": channel.id},
            severity="info",
            critical=True,  # asked for now: quiet hours do not hold it back
        )
        await outbox.notify_channel(w, channel, message, now=now)

    return await _channel_action(request, db, viewer, unit, "tested")


# --- quiet hours ------------------------------------------------------------------------


@router.post("/notifications/settings")
async def save_settings(request: Request, db: DbSession, viewer: Person) -> Response:
    form = await form_of(request)
    typed = SettingsForm(
        field(form, "quiet_from"),
        field(form, "quiet_until"),
        field(form, "time_zone") or channels.DEFAULT_TIME_ZONE,
        bool(form.get("session_notifications")),
    )
    user_id = viewer.principal.user_id

    async def unit(w: Work) -> None:
        await channels.set_settings(
            w,
            user_id,
            quiet_from=typed.quiet_from or None,
            quiet_until=typed.quiet_until or None,
            time_zone=typed.time_zone,
            session_notifications=typed.sessions,
            now=utcnow(),
        )

    try:
        await write(request, unit)
    except Refusal as exc:
        detail = exc.detail.replace("quiet_from", "start").replace("quiet_until", "end")
        return await _page(
            request,
            db,
            viewer,
            settings_error=sentence(detail.replace("time_zone", "time zone")),
            settings_form=typed,
            http_status=exc.status,
        )
    return see_other("/notifications?done=settings#quiet-hours")


# --- live -------------------------------------------------------------------------------


@router.get("/notifications/live")
async def notifications_live(request: Request, viewer: Person) -> Response:
    """Server-Sent Events: the unread count, then each new console notification of the
    viewer with the count after it.

    Each event's id is the newest notification id sent, so a browser reconnecting (every
    stream ends after a few seconds) says where it was, and what arrived in between is
    sent first: no toast is lost in the gap. (No request-long database session: a stream
    would hold its connection.)
    """
    hub = console_of(request).live
    if not hub.available:
        return Response(status_code=204)  # an EventSource stops trying on 204
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    user_id = viewer.principal.user_id
    seen = _last_event_id(request)

    async def unread() -> int:
        async with factory() as db:
            return await inbox.count_unread(db, user_id)

    async def stream() -> AsyncIterator[bytes]:
        listener = hub.listen_to(live.user_topic(user_id))  # first: nothing falls between
        loop = asyncio.get_running_loop()
        try:
            yield live.preamble()
            async with factory() as db:
                recent = await inbox.list_notifications(
                    db, user_id=user_id, channel="console", limit=MISSED
                )
                count = await inbox.count_unread(db, user_id)
            newest = max((n.id for n in recent), default=0)
            if seen is not None:
                for row in sorted((n for n in recent if n.id > seen), key=lambda n: n.id):
                    yield _with_id(row.id, {**_posted(row), "unread": count})
            last = max(newest, seen or 0)
            yield _with_id(last, {"event": "unread", "unread": count})
            deadline = loop.time() + live.STREAM_SECONDS
            while (message := await listener.next(deadline)) is not None:
                if message["event"] != "notification" or message["notification_id"] <= last:
                    continue  # another kind, or sent already from the database
                last = message["notification_id"]
                link = local_link(message.get("link"))
                yield _with_id(last, {**message, "link": link, "unread": await unread()})
        finally:
            hub.forget(listener)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


MISSED = 20  # notifications a reconnecting stream sends again at most


def _last_event_id(request: Request) -> int | None:
    value = request.headers.get("last-event-id", "").strip()
    return int(value) if value.isdigit() else None


def _with_id(event_id: int, message: live.Message) -> bytes:
    return f"id: {event_id}\n".encode() + live.sse(message)


def _posted(row: Notification) -> live.Message:
    """A stored notification in the words of a live one (live.describe)."""
    return {
        "event": "notification",
        "notification_id": row.id,
        "subject": row.subject,
        "severity": row.severity,
        "link": local_link(outbox.link_of(row)),
        "station_id": row.station_id or "",
        "at": iso(row.created_at),
        "at_text": utc(row.created_at),
    }
