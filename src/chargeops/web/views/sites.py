"""``/sites``: where stations stand, with the address, position, time zone and opening
hours drivers need, and how the stations there are doing.

Everyone signed in sees the sites (a driver looks for a place to charge); those with
sites:manage create, change and delete them through the sites service, which says what
is wrong with a value and refuses to delete a site while stations stand there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from chargeops.core.access import Permission
from chargeops.core.clock import utcnow
from chargeops.core.errors import Conflict, InvalidInput
from chargeops.stations import sites
from chargeops.stations.models import Site
from chargeops.storage.http import DbSession
from chargeops.storage.writer import UnitFn, Work
from chargeops.web import hours, queries
from chargeops.web.auth import Viewer
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.common import field, form_of, notice, see_other, write
from chargeops.web.views.stations import summarize

router = console_router()
NAV = (NavEntry("Sites", "/sites", Permission.SITES_READ),)
PAGE_SIZE = 50
Reader = Annotated[Viewer, page(Permission.SITES_READ)]
Manager = Annotated[Viewer, page(Permission.SITES_MANAGE)]
Refusal = (InvalidInput, Conflict)
NOTICES = {
    "created": "The site was created.",
    "saved": "Your changes were saved.",
    "deleted": "The site was deleted.",
}


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA names the form suggests."""
    return tuple(sorted(available_timezones()))


def _message(detail: str) -> str:
    """The service's message as a sentence, with its field names as the form says them
    ("time_zone" is "time zone")."""
    for name in sites.FIELDS:
        detail = detail.replace(name, name.replace("_", " "))
    return sentence(detail)


def local_time(site: Site, now: datetime) -> str:
    """The time at the site now, e.g. ``14:03 (CEST)``."""
    try:
        there = now.astimezone(ZoneInfo(site.time_zone))
    except (KeyError, ValueError):
        return ""
    return there.strftime("%H:%M (%Z)")


def map_link(site: Site) -> str | None:
    if site.latitude is None or site.longitude is None:
        return None
    lat, lon = site.latitude, site.longitude
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


@router.get("/sites")
async def site_list(
    request: Request,
    db: DbSession,
    viewer: Reader,
    q: str = "",
    after: int | None = None,
    done: str = "",
) -> Response:
    q = q.strip()
    found = await sites.list_sites(db, q=q or None, after=after, limit=PAGE_SIZE + 1)
    shown = found[:PAGE_SIZE]
    return render(
        request,
        "sites.html",
        title="Sites",
        sites=shown,
        q=q,
        paged=after is not None,
        next_after=shown[-1].site.id if len(found) > PAGE_SIZE else None,
        may_manage=viewer.principal.may(Permission.SITES_MANAGE),
        in_words=hours.in_words,
        notice=notice(done, NOTICES),
    )


# --- the form ---------------------------------------------------------------------------


@dataclass(slots=True)
class SiteForm:
    """What the form showed, or was sent back with (all as text)."""

    name: str = ""
    address: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""
    latitude: str = ""
    longitude: str = ""
    time_zone: str = "UTC"
    opening_hours: str = ""

    @classmethod
    def of(cls, site: Site) -> SiteForm:
        return cls(
            site.name,
            site.address or "",
            site.city or "",
            site.postal_code or "",
            site.country or "",
            "" if site.latitude is None else str(site.latitude),
            "" if site.longitude is None else str(site.longitude),
            site.time_zone,
            hours.as_lines(site.opening_hours),
        )

    @classmethod
    def posted(cls, form: FormData) -> SiteForm:
        text = form.get("opening_hours")
        return cls(
            field(form, "name"),
            field(form, "address"),
            field(form, "city"),
            field(form, "postal_code"),
            field(form, "country"),
            field(form, "latitude"),
            field(form, "longitude"),
            field(form, "time_zone"),
            text.strip() if isinstance(text, str) else "",
        )

    def values(self) -> dict[str, Any]:
        """What the sites service is given; it checks and normalizes every field."""
        if bool(self.latitude) != bool(self.longitude):
            raise InvalidInput("give both latitude and longitude, or neither")
        return {
            "name": self.name,
            "address": self.address,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
            "latitude": self.latitude.replace(",", ".") or None,
            "longitude": self.longitude.replace(",", ".") or None,
            "time_zone": self.time_zone or "UTC",
            "opening_hours": hours.parse(self.opening_hours),
        }


def _form_page(
    request: Request,
    form: SiteForm,
    *,
    site: Site | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    return render(
        request,
        "site_form.html",
        title=f"Change {site.name}" if site else "New site",
        http_status=http_status,
        form=form,
        site=site,
        error=error,
        time_zones=time_zones(),
        hours_hint=sentence(hours.HINT),
    )


async def _save(request: Request, unit: UnitFn[int], name: str) -> int:
    try:
        site_id: int = await write(request, unit)
    except IntegrityError:  # named so by someone else since we looked
        raise Conflict(f"a site named {name!r} already exists") from None
    return site_id


@router.get("/sites/new")
async def new_site(request: Request, viewer: Manager) -> Response:
    return _form_page(request, SiteForm())


@router.post("/sites")
async def create_site(request: Request, viewer: Manager) -> Response:
    form = SiteForm.posted(await form_of(request))
    try:
        values = form.values()

        async def unit(w: Work) -> int:
            return (await sites.create_site(w.session, values)).id

        site_id = await _save(request, unit, form.name)
    except Refusal as exc:
        return _form_page(request, form, error=_message(exc.detail), http_status=exc.status)
    return see_other(f"/sites/{site_id}?done=created")


@router.get("/sites/{site_id}/edit")
async def edit_site(site_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    site = await sites.require_site(db, site_id)
    return _form_page(request, SiteForm.of(site), site=site)


@router.post("/sites/{site_id}")
async def update_site(site_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    site = await sites.require_site(db, site_id)
    form = SiteForm.posted(await form_of(request))
    try:
        values = form.values()

        async def unit(w: Work) -> int:
            return (await sites.update_site(w.session, site_id, values)).id

        await _save(request, unit, form.name)
    except Refusal as exc:
        return _form_page(
            request, form, site=site, error=_message(exc.detail), http_status=exc.status
        )
    return see_other(f"/sites/{site_id}?done=saved")


# --- one site ---------------------------------------------------------------------------


@router.get("/sites/{site_id}")
async def site_page(
    site_id: int, request: Request, db: DbSession, viewer: Reader, done: str = ""
) -> Response:
    return await _site_page(request, db, viewer, site_id, notice=notice(done, NOTICES))


async def _site_page(
    request: Request,
    db: AsyncSession,
    viewer: Viewer,
    site_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> Response:
    site = await sites.require_site(db, site_id)
    standing = await queries.stations_by_id(db, await sites.stations_at(db, site_id))
    connectors = await queries.connectors_of(db, [s.id for s in standing])
    return render(
        request,
        "site.html",
        title=site.name,
        http_status=http_status,
        site=site,
        stations=[summarize(s, connectors.get(s.id, [])) for s in standing],
        opening_hours=hours.in_words(site.opening_hours),
        local_time=local_time(site, utcnow()),
        map_link=map_link(site),
        may_manage=viewer.principal.may(Permission.SITES_MANAGE),
        may_move=viewer.principal.may(Permission.STATIONS_MANAGE),
        notice=notice,
        error=error,
    )


@router.get("/sites/{site_id}/delete")
async def confirm_delete(
    site_id: int, request: Request, db: DbSession, viewer: Manager
) -> Response:
    site = await sites.require_site(db, site_id)
    count = len(await sites.stations_at(db, site_id))
    return render(request, "site_delete.html", title=f"Delete {site.name}?", site=site, count=count)


@router.post("/sites/{site_id}/delete")
async def delete_site(site_id: int, request: Request, db: DbSession, viewer: Manager) -> Response:
    async def unit(w: Work) -> None:
        await sites.delete_site(w.session, site_id)

    try:
        await write(request, unit)
    except Conflict as exc:
        return await _site_page(
            request, db, viewer, site_id, error=_message(exc.detail), http_status=exc.status
        )
    return see_other("/sites?done=deleted")
