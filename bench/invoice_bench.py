"""Invoice benchmark: how long a month's billing run takes, and drawing a big invoice.

Fills a fresh SQLite database with a month of CDRs (October 2026, Europe/Berlin) for a
number of fleets, some fleets much larger than others (a few depots with thousands of
sessions, many small customers), then times on one core:

  run    ``chargeops billing run`` for that month through ``invoices.run_month``, one
         transaction per invoice as the command does; then the same run again, which
         must issue nothing
  pdf    the PDF and the HTML of the largest invoice

    .venv/bin/python bench/invoice_bench.py --quick      # 5,000 CDRs
    .venv/bin/python bench/invoice_bench.py              # 50,000 CDRs, 200 fleets
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing import accounts, documents, invoices
from chargeops.billing.models import Cdr, Invoice
from chargeops.database import open_database
from chargeops.users.models import Organization

MONTH_START = datetime(2026, 9, 30, 22, tzinfo=UTC)  # 1 October 2026, 00:00 in Berlin
MONTH_SECONDS = 31 * 24 * 3600


def _cdr(rng: random.Random, session_id: int, organization_id: int) -> dict[str, Any]:
    ended = MONTH_START + timedelta(seconds=rng.randrange(3600, MONTH_SECONDS))
    energy = rng.randrange(2_000, 80_000)
    excl = (Decimal(energy) * Decimal("0.00039")).quantize(Decimal("0.01")) + Decimal(1)
    return {
        "session_id": session_id,
        "kind": "original",
        "station_id": f"CP-{rng.randrange(500):04d}",
        "evse_id": rng.randrange(1, 3),
        "connector_id": 1,
        "ocpp_version": "2.0.1",
        "id_tag": f"TAG-{organization_id}-{rng.randrange(50)}",
        "organization_id": organization_id,
        "unpriced": False,
        "currency": "EUR",
        "time_zone": "Europe/Berlin",
        "started_at": ended - timedelta(minutes=rng.randrange(20, 600)),
        "ended_at": ended,
        "energy_wh": energy,
        "charging_s": Decimal(3600),
        "parking_s": Decimal(0),
        "total_excl_vat": excl,
        "total_incl_vat": (excl * Decimal("1.19")).quantize(Decimal("0.01")),
        "periods": [],
        "lines": [{"vat": "19", "cost_excl_vat": str(excl)}],
        "summary": {},
        "billing": "monthly",
        "created_at": ended,
    }


async def fill(sessions: Any, cdrs: int, fleets: int, seed: int) -> None:
    rng = random.Random(seed)
    async with sessions() as db:
        await accounts.set_issuer(
            db, {"name": "Bench GmbH", "address": "Street 1\nCity", "time_zone": "Europe/Berlin"}
        )
        orgs = []
        for n in range(fleets):
            org = Organization(name=f"Fleet {n:04d}", created_at=MONTH_START)
            db.add(org)
            orgs.append(org)
        await db.flush()
        # a few large depots and many small customers: weights 1/rank
        weights = [1 / (rank + 1) for rank in range(fleets)]
        owners = rng.choices([o.id for o in orgs], weights=weights, k=cdrs)
        table: Any = Cdr.__table__
        for start in range(0, cdrs, 2_000):
            rows = [_cdr(rng, i + 1, owners[i]) for i in range(start, min(cdrs, start + 2_000))]
            await db.execute(table.insert(), rows)
        await db.commit()


async def main(cdrs: int, fleets: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        engine, sessions = await open_database(url)
        try:
            began = time.perf_counter()
            await fill(sessions, cdrs, fleets, seed)
            took = time.perf_counter() - began
            print(f"filled     {cdrs:,} CDRs for {fleets} fleets in {took:.1f} s")

            async def transact(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
                async with sessions() as db:
                    result = await fn(db)
                    await db.commit()
                    return result

            now = datetime(2026, 11, 1, 6, tzinfo=UTC)
            began = time.perf_counter()
            result = await invoices.run_month(transact, "2026-10", now=now)
            took = time.perf_counter() - began
            lines = sum(i.sessions for i in result.invoices)
            per_invoice = took / len(result.invoices) * 1000
            print(
                f"run        {len(result.invoices)} invoices, {lines:,} lines in {took:.2f} s: "
                f"{lines / took:,.0f} lines/s, {per_invoice:.1f} ms per invoice"
            )
            began = time.perf_counter()
            again = await invoices.run_month(transact, "2026-10", now=now)
            print(
                f"run again  {len(again.invoices)} invoices in {time.perf_counter() - began:.2f} s"
            )
            assert not again.invoices
            async with sessions() as db:
                biggest = (
                    await db.execute(select(Invoice).order_by(Invoice.sessions.desc()).limit(1))
                ).scalar_one()
                count = await db.scalar(select(func.count()).select_from(Invoice))
                assert count == len(result.invoices)
                rows = await invoices.lines_of(db, biggest.id)
            view = documents.view_of(biggest, rows, None)
            began = time.perf_counter()
            pdf = documents.render_pdf(view)
            pdf_s = time.perf_counter() - began
            began = time.perf_counter()
            html = documents.render_html(view)
            html_s = time.perf_counter() - began
            print(
                f"pdf        largest invoice, {biggest.sessions:,} lines: PDF {pdf_s:.2f} s "
                f"({len(pdf) / 1e6:.1f} MB), HTML {html_s:.2f} s ({len(html) / 1e6:.1f} MB)"
            )
        finally:
            await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cdrs", type=int, default=50_000)
    parser.add_argument("--fleets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="5,000 CDRs, 50 fleets")
    args = parser.parse_args()
    if args.quick:
        args.cdrs, args.fleets = 5_000, 50
    asyncio.run(main(args.cdrs, args.fleets, args.seed))
