"""``/revenue``: what the network brought in per local day (staff), or what an
organization spent (its fleet manager), from the CDRs each may see.

The figures are :func:`chargeops.billing.revenue.daily_revenue`'s, the same as
``/api/v1/revenue/daily``: days in the chosen time zone, per currency, credits
subtracted, unpriced sessions counted without money. A driver sees their own charges on
"My charges" instead: adding up one person's sessions per day is not what this page is
for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import Request, Response

from chargeops.billing import revenue
from chargeops.billing.revenue import CurrencyTotal, DayRevenue
from chargeops.core.access import Permission, Scope
from chargeops.core.clock import utcnow
from chargeops.core.errors import Forbidden, InvalidInput
from chargeops.storage.http import DbSession
from chargeops.web.auth import Viewer
from chargeops.web.charts import BarChart, bar_chart
from chargeops.web.formatting import money
from chargeops.web.frame import NavEntry, console_router, page, render, sentence
from chargeops.web.views.sites import time_zones

router = console_router()
NAV = (
    NavEntry(
        "Revenue",
        "/revenue",
        Permission.CDRS_READ,
        min_scope=Scope.ORGANIZATION,
        organization_label="Spend",
    ),
)
Reader = Annotated[Viewer, page(Permission.CDRS_READ)]


@dataclass(frozen=True, slots=True)
class RangeForm:
    since: str
    until: str
    zone: str


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def _charts(rows: list[DayRevenue], since: date, until: date, *, spend: bool) -> list[BarChart]:
    """A bar per day of the range for each currency: revenue excl. VAT (what the
    operator keeps), or for a fleet the spend incl. VAT (what it pays)."""
    charts = []
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    for currency in revenue.currencies(rows):
        by_day = {r.day: r for r in rows if r.currency == currency}
        values = []
        for day in days:
            row = by_day.get(day)
            amount = Decimal(0) if row is None else (row.incl_vat if spend else row.excl_vat)
            words = f"{day:%a %Y-%m-%d}: {money(amount, currency)}"
            values.append((f"{day:%d %b}", words, amount))
        what = "Spend incl. VAT" if spend else "Revenue excl. VAT"
        total = sum((v for _, _, v in values), Decimal(0))
        summary = (
            f"{what} per day from {since.isoformat()} to {until.isoformat()}, in {currency}: "
            f"{money(total, currency)} in all"
        )
        charts.append(bar_chart(f"{what} per day", currency, values, summary))
    return charts


@router.get("/revenue")
async def revenue_page(
    request: Request,
    db: DbSession,
    viewer: Reader,
    since: str = "",
    until: str = "",
    zone: str = "",
) -> Response:
    principal = viewer.principal
    scope = principal.scope(Permission.CDRS_READ)
    if scope is Scope.OWN:
        raise Forbidden(
            "revenue adds up a network's or an organization's charges; yours are under My charges"
        )
    spend = scope is Scope.ORGANIZATION
    form = RangeForm(since.strip(), until.strip(), zone.strip() or "UTC")
    rows: list[DayRevenue] = []
    totals: list[CurrencyTotal] = []
    charts: list[BarChart] = []
    error = None
    try:
        first, last = revenue.default_range(form.zone, utcnow())
        if form.until:
            last = _day(form.until, "to")
            if not form.since:
                first = last - timedelta(days=29)
        if form.since:
            first = _day(form.since, "from")
        rows = await revenue.daily_revenue(db, principal, first, last, form.zone)
        totals = revenue.totals(rows)
        charts = _charts(rows, first, last, spend=spend)
        form = RangeForm(first.isoformat(), last.isoformat(), form.zone)
    except InvalidInput as exc:
        error = sentence(exc.detail.replace("time_zone:", "time zone:"))
    return render(
        request,
        "revenue.html",
        title="Your organization's spend" if spend else "Revenue",
        http_status=422 if error else 200,
        form=form,
        rows=rows,
        totals=totals,
        charts=charts,
        spend=spend,
        error=error,
        time_zones=time_zones(),
    )
