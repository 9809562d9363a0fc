"""The console over plain HTTP: logins and their cookies, CSRF, who may open which page
and which sessions they see, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, time
from typing import Any

import httpx
import pytest

from chargeops.web import auth as web_auth
from chargeops.web.views import sessions as sessions_view
from tests.harness import RunningServer
from tests.web.network import (
    ALICE,
    BOB,
    FLEET,
    OPERATOR,
    PASSWORD,
    Network,
    add_people,
    csrf_of,
    logged_in,
    network,
)

HTML = {"Accept": "text/html"}


def stat(html: str, key: str) -> str:
    found = re.search(rf'data-stat="{key}">([^<]*)<', html)
    assert found is not None, f"no figure {key} on the page"
    return found.group(1)


def energy_today(net: Network) -> str:
    """Bob's 8 kWh so far, and Alice's 8.25 kWh if her session ended today (UTC)."""
    midnight = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    return "16.25 kWh" if net.alice_stopped_at >= midnight else "8.00 kWh"


def cookies_of(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        found[name] = header
    return found


async def test_pages_need_a_login_and_come_back_to_where_one_was_going(
    server: RunningServer,
) -> None:
    await add_people(server)
    async with httpx.AsyncClient(base_url=server.http_url, headers=HTML) as client:
        # never to another site: an open redirect would make our login page a trap
        forms = [
            (await client.get("/login", params={"next": target})).text
            for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example")
        ]
        hostile = await client.post(
            "/login",
            data={
                "email": ALICE,
                "password": PASSWORD,
                "csrf": csrf_of(forms[0]),
                "next": "//evil.example/x",  # as a hand-made form would send it
            },
        )
        client.cookies.clear()
        first = await client.get("/sessions?status=active")
        form = await client.get(first.headers["location"])
        login = await client.post(
            "/login",
            data={
                "email": OPERATOR,
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": "/sessions?status=active",
            },
        )
        landed = await client.get(login.headers["location"])
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Fsessions%3Fstatus%3Dactive"
    assert 'name="next" value="/sessions?status=active"' in form.text
    assert login.status_code == 303 and login.headers["location"] == "/sessions?status=active"
    set_cookies = cookies_of(login)
    for name in (web_auth.ACCESS_COOKIE, web_auth.REFRESH_COOKIE):
        cookie = set_cookies[name].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http here; https gets Secure
    assert landed.status_code == 200 and '<h1 id="sessions-title">Sessions</h1>' in landed.text
    assert landed.headers["content-security-policy"].startswith("default-src 'self'")
    assert all('name="next" value="/"' in form for form in forms)
    assert hostile.status_code == 303 and hostile.headers["location"] == "/"


async def test_forms_without_their_token_are_refused(server: RunningServer) -> None:
    await add_people(server)
    async with httpx.AsyncClient(base_url=server.http_url, headers=HTML) as stranger:
        form = await stranger.get("/login")
        no_token = await stranger.post("/login", data={"email": ALICE, "password": PASSWORD})
        token = csrf_of(form.text)
        stranger.cookies.clear()  # a form posted from another site has no login-form cookie
        no_cookie = await stranger.post(
            "/login", data={"email": ALICE, "password": PASSWORD, "csrf": token}
        )
    for refused in (no_token, no_cookie):
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
        assert web_auth.ACCESS_COOKIE not in cookies_of(refused)

    async with logged_in(server, ALICE) as alice, logged_in(server, BOB) as bob:
        home = await alice.get("/")
        bobs_token = csrf_of((await bob.get("/")).text)
        without = await alice.post("/logout")
        wrong = await alice.post("/logout", data={"csrf": bobs_token})
        still_in = await alice.get("/")
        kept = dict(alice.cookies)
        out = await alice.post("/logout", data={"csrf": csrf_of(home.text)})
        after = await alice.get("/")
    async with httpx.AsyncClient(base_url=server.http_url, headers=HTML, cookies=kept) as replayed:
        replay = await replayed.get("/")
    assert without.status_code == 403 and "reload the page" in without.text
    assert wrong.status_code == 403
    assert still_in.status_code == 200 and "Alice Driver" in still_in.text
    assert out.status_code == 303 and out.headers["location"] == "/login?logged_out=1"
    cleared = cookies_of(out)
    assert 'chargeops_access=""' in cleared[web_auth.ACCESS_COOKIE]
    assert 'chargeops_refresh=""' in cleared[web_auth.REFRESH_COOKIE]
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    # the cookies copied before logging out (access and refresh) no longer open anything
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


async def test_an_expired_access_token_is_replaced_without_logging_in_again(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_people(server)
    async with logged_in(server, OPERATOR) as client:
        refresh = client.cookies[web_auth.REFRESH_COOKIE]
    only_refresh = {web_auth.REFRESH_COOKIE: refresh, web_auth.ACCESS_COOKIE: "expired.or.forged"}

    async def visit() -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=server.http_url, headers=HTML, cookies=only_refresh
        ) as browser:
            return await browser.get("/stations")

    # a page and its live stream may both find the token expired at once: both go on
    first, second = await asyncio.gather(visit(), visit())
    assert first.status_code == second.status_code == 200
    rotated = cookies_of(first)
    new_refresh = rotated[web_auth.REFRESH_COOKIE].split(";")[0].split("=", 1)[1]
    assert new_refresh != refresh and web_auth.ACCESS_COOKIE in rotated
    assert cookies_of(second)[web_auth.REFRESH_COOKIE] == rotated[web_auth.REFRESH_COOKIE]

    monkeypatch.setattr(web_auth, "REFRESH_GRACE_S", 0.0)
    web_auth_refresher = server_console(server).signins.refresher
    web_auth_refresher._recent.clear()
    replayed = await visit()  # the old refresh token was used up
    assert replayed.status_code == 303 and replayed.headers["location"] == "/login?next=%2Fstations"
    assert 'chargeops_refresh=""' in cookies_of(replayed)[web_auth.REFRESH_COOKIE]


def server_console(server: RunningServer) -> Any:
    http = server.app._http
    assert http is not None
    return http.config.app.state.console


async def test_each_person_sees_what_their_roles_allow(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        network(server) as net,
        logged_in(server, OPERATOR) as olivia,
        logged_in(server, ALICE) as alice,
        logged_in(server, FLEET) as fleet,
    ):
        pages: dict[str, dict[str, httpx.Response]] = {}
        for who, client in (("olivia", olivia), ("alice", alice), ("fleet", fleet)):
            pages[who] = {
                path: await client.get(path)
                for path in (
                    "/",
                    "/stations",
                    "/stations/CP-1",
                    "/stations/CP-1/events",
                    "/sessions",
                    f"/sessions/{net.alice_session}",
                    f"/sessions/{net.bob_session}",
                )
            }
        filtered = {
            query: await olivia.get("/stations" + query)
            for query in ("?state=faulted", "?q=eve", "?q=cp-2", "?state=offline", "?q=50%25")
        }
        active = await olivia.get("/sessions?status=active")
        elsewhere = await olivia.get("/sessions?station=CP-2")
        monkeypatch.setattr(sessions_view, "PAGE_SIZE", 1)
        first_page = await olivia.get("/sessions")
        older = re.search(r'href="(/sessions\?[^"]*before=\d+)"', first_page.text)
        assert older is not None
        second_page = await olivia.get(older.group(1).replace("&amp;", "&"))
        wrong = {
            path: await olivia.get(path)
            for path in (
                "/stations/CP-9",
                "/sessions/999",
                "/sessions/abc",
                "/stations?state=broken",
                "/no-such-page",
            )
        }
        api = await olivia.get("/api/v1/no-such-thing")

    codes = {who: {p: r.status_code for p, r in seen.items()} for who, seen in pages.items()}
    alice_id, bob_id = net.alice_session, net.bob_session
    assert codes["olivia"] == dict.fromkeys(codes["olivia"], 200)
    assert codes["alice"] == {
        "/": 200,
        "/stations": 200,  # a driver looks for a free charger
        "/stations/CP-1": 200,
        "/stations/CP-1/events": 403,  # diagnostics are for staff
        "/sessions": 200,
        f"/sessions/{alice_id}": 200,
        f"/sessions/{bob_id}": 404,  # someone else's session does not exist for her
    }
    assert codes["fleet"][f"/sessions/{alice_id}"] == codes["fleet"][f"/sessions/{bob_id}"] == 404

    # the operator's overview counts the whole network
    home = pages["olivia"]["/"].text
    figures = {k: stat(home, k) for k in ("online", "offline", "faulted", "total", "active")}
    assert figures == {"online": "1", "offline": "2", "faulted": "1", "total": "3", "active": "1"}
    assert stat(home, "energy") == energy_today(net)
    # a driver's home is their own charging; a fleet manager's figures are their fleet's
    assert "Your charging" in pages["alice"]["/"].text
    assert "You are not charging right now." in pages["alice"]["/"].text
    assert "(your organization)" in pages["fleet"]["/"].text
    assert stat(pages["fleet"]["/"].text, "active") == "0"
    # sessions: everyone's for staff, her own for Alice, none for a fleet without cards
    assert {"CARD-ALICE", "CARD-BOB"} <= set(
        re.findall(r"CARD-\w+", pages["olivia"]["/sessions"].text)
    )
    assert set(re.findall(r"CARD-\w+", pages["alice"]["/sessions"].text)) == {"CARD-ALICE"}
    assert set(re.findall(r"CARD-\w+", pages["alice"]["/stations/CP-1"].text)) == {"CARD-ALICE"}
    assert "No sessions yet." in pages["fleet"]["/sessions"].text
    assert "Recent events" in pages["olivia"]["/stations/CP-1"].text
    assert "Recent events" not in pages["alice"]["/stations/CP-1"].text
    assert "stations:control" in pages["alice"]["/stations/CP-1/events"].text
    # the navigation shows what each may use
    menus = {
        who: re.findall(r'<li><a href="(/[^"]*)"', pages[who]["/"].text)
        for who in ("olivia", "alice")
    }
    assert menus["olivia"] == [
        "/",
        "/status",
        "/faults",
        "/incidents",
        "/stations",
        "/sessions",
        "/tokens",
        "/sites",
        "/users",
        "/tariffs",
        "/cdrs",
        "/invoices",
        "/revenue",
        "/alerts",
        "/notifications",
    ]
    assert menus["alice"] == [
        "/",
        "/stations",
        "/sessions",
        "/tokens",
        "/sites",
        "/tariffs",
        "/cdrs",
        "/invoices",
        "/notifications",
    ]

    def station_ids(response: httpx.Response) -> list[str]:
        return re.findall(r'<tr data-station="([^"]+)">', response.text)

    assert station_ids(pages["olivia"]["/stations"]) == ["CP-1", "CP-2", "CP-3"]
    assert {q: station_ids(r) for q, r in filtered.items()} == {
        "?state=faulted": ["CP-1"],
        "?q=eve": ["CP-1"],  # the model, Eve Double
        "?q=cp-2": ["CP-2"],
        "?state=offline": ["CP-2", "CP-3"],
        "?q=50%25": [],  # a % is a character to look for, not a wildcard
    }
    assert "No stations match this filter." in filtered["?q=50%25"].text
    assert re.findall(r'data-session="(\d+)"', active.text) == [str(bob_id)]
    assert "No sessions match this filter." in elsewhere.text
    assert re.findall(r'<tr data-session="(\d+)"', first_page.text) == [str(bob_id)]
    assert re.findall(r'<tr data-session="(\d+)"', second_page.text) == [str(alice_id)]
    assert {p: r.status_code for p, r in wrong.items()} == {
        "/stations/CP-9": 404,
        "/sessions/999": 404,
        "/sessions/abc": 404,
        "/stations?state=broken": 422,
        "/no-such-page": 404,
    }
    assert "No station &#39;CP-9&#39;." in wrong["/stations/CP-9"].text
    assert wrong["/no-such-page"].headers["content-type"].startswith("text/html")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
