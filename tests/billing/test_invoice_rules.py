"""The rules invoices keep, on the real databases: numbers without gaps (also when an
issue fails or two runs race), months counted in the issuer's zone across DST, VAT split
to the cent, and the issuer's details checked before anything is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chargeops.billing import accounts, invoices
from chargeops.billing.invoices import Month, next_number, taxes_of
from chargeops.billing.models import Cdr, Invoice, InvoiceLine
from chargeops.core.errors import InvalidInput
from chargeops.database import open_database
from chargeops.users import accounts as users

ISSUER = {"name": "Ladenetz GmbH", "address": "Hafenstraße 1\n20457 Hamburg"}


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine, factory = await open_database(database_url)
    try:
        yield factory
    finally:
        await engine.dispose()


def transact_with(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[[Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]:
    async def transact(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with sessions() as db:
            result = await fn(db)
            await db.commit()
            return result

    return transact


def cdr(session_id: int, ended: datetime, total: str, *, organization_id: int | None = None) -> Cdr:
    excl = Decimal(total)
    return Cdr(
        session_id=session_id,
        kind="original",
        station_id="CP-1",
        evse_id=1,
        connector_id=1,
        ocpp_version="1.6",
        id_tag=f"TAG-{session_id}",
        organization_id=organization_id,
        unpriced=False,
        currency="EUR",
        time_zone="Europe/Berlin",
        started_at=ended - timedelta(hours=1),
        ended_at=ended,
        energy_wh=10_000,
        charging_s=Decimal(3600),
        parking_s=Decimal(0),
        total_excl_vat=excl,
        total_incl_vat=(excl * Decimal("1.19")).quantize(Decimal("0.01")),
        periods=[],
        lines=[{"vat": "19", "cost_excl_vat": total}],
        summary={},
        billing="monthly",
        created_at=ended,
    )


def test_a_month_is_counted_in_the_issuers_zone_across_a_dst_change() -> None:
    october = Month.parse("2026-10", "Europe/Berlin")
    # CEST (UTC+2) at the start, CET (UTC+1) at the end: summer time ends on 25 October
    assert october.start == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert october.end == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert october.name == "October 2026"
    assert Month.before(datetime(2026, 1, 1, 0, 30, tzinfo=UTC), "Europe/Berlin").label == "2025-12"
    assert Month.before(datetime(2026, 1, 1, 0, 30, tzinfo=UTC), "UTC").label == "2025-12"
    assert Month.before(datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "Europe/Berlin").label == (
        "2025-12"  # already January in Berlin
    )
    for nonsense in ("2026-13", "2026-00", "26-10", "2026/10", "october"):
        with pytest.raises(InvalidInput, match="not a month like 2026-10"):
            Month.parse(nonsense, "UTC")


def test_a_session_at_two_vat_rates_is_split_to_the_cent_and_adds_up() -> None:
    row = cdr(1, datetime(2026, 10, 5, tzinfo=UTC), "10.00")
    # a minimum price lifted the total above its lines: the split follows the lines
    row.lines = [
        {"vat": "19", "cost_excl_vat": "3.33"},
        {"vat": "7", "cost_excl_vat": "3.33"},
        {"vat": None, "cost_excl_vat": "0.01"},
    ]
    row.total_excl_vat, row.total_incl_vat = Decimal("10.00"), Decimal("11.30")
    taxes = taxes_of(row)
    assert [t["rate"] for t in taxes] == [None, "7", "19"]
    assert sum(Decimal(t["excl_vat"]) for t in taxes) == Decimal("10.00")
    assert sum(Decimal(t["vat"]) for t in taxes) == Decimal("1.30")
    no_vat = taxes[0]
    assert no_vat["vat"] == "0" or Decimal(no_vat["vat"]) == 0
    # VAT goes to the rates in proportion to what they tax: 19 % of 3.33 vs 7 % of 3.33
    assert Decimal(taxes[2]["vat"]) > Decimal(taxes[1]["vat"]) > 0


async def test_numbers_have_no_gaps_when_an_issue_fails(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as db:
        assert await next_number(db, "INV", 2026) == "INV-2026-000001"
        await db.commit()
    async with sessions() as db:
        assert await next_number(db, "INV", 2026) == "INV-2026-000002"
        await db.rollback()  # the invoice was never written: its number comes back
    async with sessions() as db:
        assert await next_number(db, "INV", 2026) == "INV-2026-000002"
        assert await next_number(db, "CN", 2026) == "CN-2026-000001"  # a series of its own
        assert await next_number(db, "INV", 2027) == "INV-2027-000001"  # and a year
        await db.commit()


async def test_two_runs_at_once_issue_each_invoice_once_with_no_gap(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as db:
        await accounts.set_issuer(db, ISSUER | {"time_zone": "Europe/Berlin"})
        fleets = [(await users.ensure_organization(db, f"Fleet {n}")).id for n in range(3)]
        october = datetime(2026, 10, 10, 12, tzinfo=UTC)
        for n, org in enumerate(fleets):
            db.add(cdr(10 + n, october, "5.00", organization_id=org))
            db.add(cdr(20 + n, october + timedelta(days=1), "2.50", organization_id=org))
        # ended at 23:30 UTC on 31 October: 00:30 on 1 November in Berlin, next month
        db.add(cdr(30, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "9.99", organization_id=org))
        await db.commit()
    transact = transact_with(sessions)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    runs = await asyncio.gather(
        invoices.run_month(transact, "2026-10", now=now),
        invoices.run_month(transact, "2026-10", now=now),
    )
    assert sum(len(r.invoices) for r in runs) == 3
    async with sessions() as db:
        numbers = sorted((await db.execute(select(Invoice.number))).scalars())
        assert numbers == [f"INV-2026-00000{n}" for n in (1, 2, 3)]
        lines = await db.scalar(select(func.count()).select_from(InvoiceLine))
        assert lines == 6  # the CDR of 1 November (Berlin) waits for November's run
        totals = (await db.execute(select(Invoice.total_excl_vat))).scalars().all()
        assert sorted(totals) == [Decimal("7.50")] * 3
    again = await invoices.run_month(transact, "2026-10", now=now)
    assert again.invoices == [] and again.receipts == 0


async def test_the_issuers_details_are_checked_before_anything_is_stored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bad = {
        "name": {"name": " "},
        "time_zone": {"time_zone": "Mars/Olympus"},
        "invoice_prefix": {"invoice_prefix": "INV 2026"},
        "credit_note_prefix": {"credit_note_prefix": "inv"},
        "payment_terms_days": {"payment_terms_days": -1},
    }
    async with sessions() as db:
        for field, change in bad.items():
            with pytest.raises(InvalidInput, match=field):
                await accounts.set_issuer(db, ISSUER | change)
        assert await accounts.get_issuer(db) is None
        with pytest.raises(InvalidInput, match="legal details are not set"):
            await invoices.month_to_run(db, "2026-10", datetime(2026, 11, 2, tzinfo=UTC))
