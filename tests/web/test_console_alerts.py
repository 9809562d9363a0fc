"""The alerting pages over HTTP, on SQLite and PostgreSQL: staff work an incident a real
charger opened, from the list to its resolution; an operator changes rules and policies
(the service's checks refuse what is wrong, and nothing changes); a driver chooses how
alerts reach them, and hears of a new one on the live stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from ocpp.v16 import call
from sqlalchemy import select

from chargeops.alerts.models import AlertRule, EscalationPolicy, Incident, NotificationChannel
from chargeops.users.models import User
from tests.harness import RunningServer, charge_point, now_iso
from tests.web.network import (
    ALICE,
    OPERATOR,
    TECHNICIAN,
    add_user,
    csrf_token,
    logged_in,
)


async def people(server: RunningServer, *emails: str) -> dict[str, int]:
    """Only the people a test needs (each password hash takes a while)."""
    who = {
        OPERATOR: ("Olivia Operator", "operator"),
        TECHNICIAN: ("Tom Technician", "technician"),
        ALICE: ("Alice Driver", "driver"),
    }
    return {email: await add_user(server, email, *who[email]) for email in emails}


async def _until(check: Any, tries: int = 300) -> Any:
    """Incidents open from bus events, just after the charger's message commits."""
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("it did not happen")


async def fault_incident(server: RunningServer, station_id: str = "CP-1") -> int:
    """A charger reports a faulted connector: the default rule opens an incident."""
    await server.add_station(station_id)
    async with charge_point(server, station_id) as cp:
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="GroundFailure", status="Faulted", timestamp=now_iso()
            )
        )

    async def opened() -> int | None:
        async with server.db() as db:
            found: int | None = await db.scalar(
                select(Incident.id).where(Incident.station_id == station_id)
            )
            return found

    incident_id: int = await _until(opened)
    return incident_id


def row_of(html: str, attribute: str, value: object) -> str:
    found = re.search(rf'<tr {attribute}="{value}">.*?</tr>', html, re.S)
    assert found is not None, f"no row {attribute}={value}"
    return found.group(0)


def timeline(html: str) -> list[str]:
    return re.findall(r'data-note="([a-z]+)"', html)


async def test_staff_work_an_incident_from_the_list_to_its_resolution(
    server: RunningServer,
) -> None:
    ids = await people(server, OPERATOR, TECHNICIAN, ALICE)
    incident_id = await fault_incident(server)
    page = f"/incidents/{incident_id}"
    async with (
        logged_in(server, TECHNICIAN) as tom,
        logged_in(server, OPERATOR) as olivia,
        logged_in(server, ALICE) as alice,
    ):
        token = await csrf_token(tom)
        listed = await tom.get("/incidents")
        filtered = {
            "resolved": await tom.get("/incidents", params={"state": "resolved"}),
            "critical": await tom.get("/incidents", params={"severity": "critical"}),
            "station": await tom.get("/incidents", params={"station": "CP-1"}),
            "nobody": await tom.get("/incidents", params={"assignee": "nobody"}),
            "bad": await tom.get("/incidents", params={"state": "sleeping"}),
        }
        driver = {"list": await alice.get("/incidents"), "one": await alice.get(page)}
        forged = await tom.post(f"{page}/acknowledge")
        acked = await tom.post(f"{page}/acknowledge", data={"csrf": token})
        after_ack = await tom.get(acked.headers["location"])
        to_driver = await tom.post(f"{page}/assign", data={"assignee": ids[ALICE], "csrf": token})
        assigned = await tom.post(f"{page}/assign", data={"assignee": ids[OPERATOR], "csrf": token})
        empty = await tom.post(f"{page}/comment", data={"text": "  ", "csrf": token})
        commented = await tom.post(f"{page}/comment", data={"text": "RCD reset", "csrf": token})
        resolved = await tom.post(f"{page}/resolve", data={"note": "RCD replaced", "csrf": token})
        again = await tom.post(f"{page}/resolve", data={"note": "twice?", "csrf": token})
        done = await tom.get(page)
        still_open = await tom.get("/incidents")
        all_of_them = await tom.get("/incidents", params={"state": "all"})
        inbox = await olivia.get("/notifications")
        read = await olivia.post("/notifications/read-all", data={"csrf": await csrf_token(olivia)})
        inbox_read = await olivia.get(read.headers["location"])

    row = row_of(listed.text, "data-incident", incident_id)
    assert "CP-1 EVSE 1 faulted: GroundFailure" in row and 'href="/stations/CP-1"' in row
    assert "Connector faulted" in row and "fault:1" in row  # the rule and its condition
    assert "Major" in row and 'data-label="Level">1</td>' in row and "Open" in row
    assert 'data-label="Repeats">1</td>' in row
    assert "No incidents match this filter." in filtered["resolved"].text
    assert "No incidents match this filter." in filtered["critical"].text
    for name in ("station", "nobody"):
        assert f'data-incident="{incident_id}"' in filtered[name].text
    assert filtered["bad"].status_code == 422
    assert {k: r.status_code for k, r in driver.items()} == {"list": 403, "one": 403}
    assert "incidents:read" in driver["list"].text

    assert forged.status_code == 403
    assert acked.headers["location"] == f"{page}?done=acknowledged"
    assert "You acknowledged the incident" in after_ack.text
    assert f"by {TECHNICIAN}" in after_ack.text and "Acknowledge</button>" not in after_ack.text
    # a driver cannot be given an incident: the service says so on the page
    assert to_driver.status_code == 422
    assert f"User {ALICE} may not handle incidents (roles: driver)" in to_driver.text
    assert assigned.status_code == 303
    assert empty.status_code == 422 and "A comment needs some text." in empty.text
    assert commented.status_code == 303 and resolved.status_code == 303
    assert again.status_code == 409
    assert f"Incident {incident_id} is already resolved." in again.text
    assert 'data-fact="assignee">Olivia Operator' in done.text
    assert 'data-fact="resolved">by tom@example.com' in done.text
    assert "RCD reset" in done.text and "RCD replaced" in done.text
    assert timeline(done.text) == [
        "opened",
        "notified",
        "acknowledged",
        "assigned",
        "comment",
        "resolved",
    ]
    assert "level 1: told" in done.text  # levels count from 1
    assert "Resolve</button>" not in done.text
    assert f'data-incident="{incident_id}"' not in still_open.text  # open is the default
    assert "Resolved" in row_of(all_of_them.text, "data-incident", incident_id)

    # the operator heard of it: opened (level 1 of the default policy), given to her,
    # resolved; each links to the incident
    subjects = re.findall(r'class="inbox-subject">([^<]+)</a>', inbox.text)
    assert subjects == [
        "[RESOLVED] CP-1 EVSE 1 faulted: GroundFailure",
        "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure",
        "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure",
    ]
    assert inbox.text.count(f'<a href="{page}" class="inbox-subject">') == 3
    assert "3 unread" in inbox.text and "Mark all read" in inbox.text
    assert "0 unread" in inbox_read.text and "is-unread" not in inbox_read.text


async def _rules(server: RunningServer) -> dict[str, AlertRule]:
    async with server.db() as db:
        return {r.name: r for r in (await db.scalars(select(AlertRule))).all()}


async def _policies(server: RunningServer) -> dict[str, Any]:
    return {p["name"]: p for p in await server.get("/api/v1/alerts/policies")}


async def test_rules_and_policies_change_in_the_console_as_the_service_checks(
    server: RunningServer,
) -> None:
    ids = await people(server, OPERATOR, TECHNICIAN)
    offline = (await _rules(server))["Station offline"]
    async with logged_in(server, OPERATOR) as olivia, logged_in(server, TECHNICIAN) as tom:
        token = await csrf_token(olivia)
        overview = await olivia.get("/alerts")
        form = await olivia.get(f"/alerts/rules/{offline.id}")
        kept = {"name": "Station offline", "severity": "critical", "enabled": "1"}
        kept |= {"auto_resolve": "1", "policy": str(offline.policy_id), "csrf": token}
        refused = {
            "text": await olivia.post(
                f"/alerts/rules/{offline.id}", data={**kept, "minutes": "ten"}
            ),
            "range": await olivia.post(
                f"/alerts/rules/{offline.id}", data={**kept, "minutes": "20000"}
            ),
        }
        unchanged = (await _rules(server))["Station offline"].params
        saved = await olivia.post(
            f"/alerts/rules/{offline.id}", data={**kept, "minutes": "5", "severity": "major"}
        )
        after_save = await olivia.get(saved.headers["location"])

        kinds = await olivia.get("/alerts/rules/new")
        new_form = await olivia.get("/alerts/rules/new", params={"kind": "uptime_below"})
        uptime = {"kind": "uptime_below", "severity": "minor", "enabled": "1", "csrf": token}
        taken = await olivia.post(
            "/alerts/rules",
            data={**uptime, "name": "uptime BELOW 97%", "percent": "99", "window_hours": "168"},
        )
        created = await olivia.post(
            "/alerts/rules",
            data={**uptime, "name": "Depot uptime", "percent": "99,5", "window_hours": "168"},
        )
        no_reasons = await olivia.post(
            "/alerts/rules",
            data={
                "kind": "session_interrupted",
                "name": "Cuts",
                "severity": "minor",
                "csrf": token,
            },
        )

        night = {"name": "Night shift", "levels": "3", "csrf": token}
        night |= {"level-0-users": str(ids[TECHNICIAN]), "level-1-roles": "admin"}
        backwards = await olivia.post("/alerts/policies", data={**night, "level-1-after": "0"})
        nobody = await olivia.post(
            "/alerts/policies",
            data={**night, "level-1-after": "15", "level-2-after": "60"},
        )
        policy_created = await olivia.post(
            "/alerts/policies", data={**night, "level-1-after": "15"}
        )
        policies = await _policies(server)
        night_id = policies["Night shift"]["id"]
        policy_form = await olivia.get(f"/alerts/policies/{night_id}")
        shortened = await olivia.post(
            f"/alerts/policies/{night_id}",
            data={**night, "level-1-after": "15", "level-1-remove": "1"},
        )
        not_allowed = await tom.get("/alerts")

    # the defaults, in words; levels numbered from 1
    assert offline.params == {"minutes": 10.0} and offline.severity == "critical"
    assert "offline for 10 min" in row_of(overview.text, "data-rule", offline.id)
    assert "under 97 % over 720 h" in overview.text
    assert re.search(r"Level 1</strong>, when it opens: roles operator, admin", overview.text)
    assert re.search(r"Level 2</strong>, after 30 min: roles admin", overview.text)
    assert 'name="minutes" value="10"' in form.text

    assert (
        refused["text"].status_code == 422 and "Minutes must be a number." in refused["text"].text
    )
    assert "Minutes must be between 0 and 10080." in refused["range"].text
    assert 'value="20000"' in refused["range"].text  # the form keeps what was typed
    assert unchanged == {"minutes": 10.0}
    assert saved.headers["location"] == "/alerts?done=rule-saved"
    assert "The rule was saved." in after_save.text
    assert "offline for 5 min" in row_of(after_save.text, "data-rule", offline.id)
    now = (await _rules(server))["Station offline"]
    assert now.params == {"minutes": 5.0} and now.severity == "major"

    assert 'value="uptime_below"' in kinds.text and "Continue" in kinds.text
    assert 'name="percent" value="97"' in new_form.text
    assert 'name="window_hours" value="720"' in new_form.text
    assert taken.status_code == 409
    assert "There is already a rule named &#39;uptime BELOW 97%&#39;" in taken.text
    assert created.status_code == 303
    depot = (await _rules(server))["Depot uptime"]
    assert depot.params == {"percent": 99.5, "window_hours": 168.0} and depot.severity == "minor"
    assert depot.policy_id is None and depot.enabled and not depot.auto_resolve
    assert no_reasons.status_code == 422 and "Choose at least one stop reason" in no_reasons.text

    assert backwards.status_code == 422
    assert "Level 2 must come later than level 1." in backwards.text
    assert nobody.status_code == 422 and "Level 3 names nobody" in nobody.text
    assert policy_created.status_code == 303
    assert [
        (level["level"], level["after_minutes"], level["roles"], level["user_ids"])
        for level in policies["Night shift"]["levels"]
    ] == [(1, 0.0, [], [ids[TECHNICIAN]]), (2, 15.0, ["admin"], [])]
    assert "Add level 3" in policy_form.text and 'value="15"' in policy_form.text
    assert shortened.status_code == 303
    assert [lv["level"] for lv in (await _policies(server))["Night shift"]["levels"]] == [1]
    assert not_allowed.status_code == 403 and "alerts:manage" in not_allowed.text
    async with server.db() as db:
        names = set((await db.scalars(select(EscalationPolicy.name))).all())
    assert names == {"Operators, then admins", "Night shift"}


STREAM = {"Accept": "text/event-stream"}


class Events:
    """Reads a stream event by event, with the id each carries."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = 5.0) -> tuple[str, str, dict[str, Any]]:
        async with asyncio.timeout(within):
            kind, data, event_id = "", "", ""
            async for line in self._lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line == "" and kind:
                    return kind, event_id, json.loads(data)
        raise EOFError("the stream ended")


@contextlib.asynccontextmanager
async def listening(client: httpx.AsyncClient, last_id: str | None = None) -> AsyncIterator[Events]:
    headers = STREAM if last_id is None else {**STREAM, "Last-Event-ID": last_id}
    async with client.stream("GET", "/notifications/live", headers=headers) as response:
        assert response.status_code == 200
        yield Events(response)


async def test_a_driver_chooses_channels_and_quiet_hours_and_hears_live(
    server: RunningServer,
) -> None:
    await people(server, ALICE)
    async with logged_in(server, ALICE) as alice:
        token = await csrf_token(alice)
        first = await alice.get("/notifications")
        add = "/notifications/channels"
        bad_email = await alice.post(
            add, data={"kind": "email", "address": "alice@", "csrf": token}
        )
        private = await alice.post(
            add, data={"kind": "webhook", "address": "http://127.0.0.1/hook", "csrf": token}
        )
        hook = await alice.post(
            add, data={"kind": "webhook", "address": "https://example.com/hook", "csrf": token}
        )
        added = await alice.post(add, data={"kind": "email", "address": ALICE, "csrf": token})
        twice = await alice.post(add, data={"kind": "email", "address": ALICE, "csrf": token})
        no_console = await alice.get("/notifications")
        await alice.post(add, data={"kind": "console", "address": "", "csrf": token})
        async with server.db() as db:
            mine = {c.kind: c.id for c in await _channels(db, ALICE)}
        off = await alice.post(
            f"{add}/{mine['email']}/enabled", data={"enabled": "0", "csrf": token}
        )
        channels_page = await alice.get("/notifications")

        async with listening(alice) as stream:
            snapshot = await stream.next()
            tested = await alice.post(f"{add}/{mine['console']}/test", data={"csrf": token})
            posted = await stream.next()
        # a stream that reconnects says where it was: what came since is sent first
        await alice.post(f"{add}/{mine['console']}/test", data={"csrf": token})
        async with listening(alice, last_id=posted[1]) as again:
            missed = await again.next()
            caught_up = await again.next()

        settings = "/notifications/settings"
        half = await alice.post(settings, data={"quiet_from": "22:00", "csrf": token})
        zone = await alice.post(
            settings,
            data={
                "quiet_from": "22:00",
                "quiet_until": "07:00",
                "time_zone": "Mars/Base",
                "csrf": token,
            },
        )
        quiet = await alice.post(
            settings,
            data={
                "quiet_from": "22:00",
                "quiet_until": "07:00",
                "time_zone": "Europe/Berlin",
                "csrf": token,
            },
        )
        removed = await alice.post(f"{add}/{mine['webhook']}/remove", data={"csrf": token})
        last = await alice.get("/notifications")
        someone_elses = await alice.post(f"{add}/999999/remove", data={"csrf": token})

    assert "Nothing yet." in first.text and f"to {ALICE}" in first.text
    assert 'name="session_notifications" value="1" checked' in first.text  # on by default
    assert bad_email.status_code == 422
    assert "&#39;alice@&#39; is not an email address" in bad_email.text
    assert 'value="alice@"' in bad_email.text
    assert private.status_code == 422 and "Webhooks to 127.0.0.1 are not allowed" in private.text
    # the webhook's secret: on the page that answers its creation, and never again
    secret = re.search(r"<code data-secret>(whsec_[^<]+)</code>", hook.text)
    assert hook.status_code == 201 and secret is not None
    assert added.status_code == 303 and twice.status_code == 409
    assert secret.group(1) not in no_console.text
    assert "Alerts do not reach this console" in no_console.text
    assert off.status_code == 303
    assert "Turn on" in row_of(channels_page.text, "data-channel", mine["email"])
    assert "Alerts do not reach this console" not in channels_page.text

    assert snapshot[0] == "unread" and snapshot[2] == {"unread": 0}
    assert tested.status_code == 303
    kind, event_id, data = posted
    assert kind == "notification" and data["subject"] == "chargeops test notification"
    assert data["unread"] == 1 and event_id == str(data["notification_id"])
    assert missed[0] == "notification" and missed[2]["notification_id"] > data["notification_id"]
    assert caught_up[0] == "unread" and caught_up[2] == {"unread": 2}

    assert half.status_code == 422 and "Give both start and end, or neither" in half.text
    assert zone.status_code == 422 and "&#39;Mars/Base&#39; is not an IANA time zone" in zone.text
    assert quiet.status_code == 303
    assert 'name="quiet_from" type="time" value="22:00"' in last.text
    assert 'value="Europe/Berlin"' in last.text
    assert 'name="session_notifications" value="1">' in last.text  # left unticked: off
    assert removed.status_code == 303 and "https://example.com/hook" not in last.text
    assert someone_elses.status_code == 404  # another's channel is no more found than none
    assert "2 unread" in last.text and "chargeops test notification" in last.text


async def _channels(db: Any, email: str) -> list[NotificationChannel]:
    user_id = await db.scalar(select(User.id).where(User.email == email))
    return list(
        (
            await db.scalars(
                select(NotificationChannel).where(NotificationChannel.user_id == user_id)
            )
        ).all()
    )
