"""Who is invoiced how, and in whose name: customer accounts and the issuer's details.

**Customers.** A session is paid by whoever its token belongs to: the token's
organization (or its owner's), else its owner, else nobody known (a card with no owner:
the receipt names the card). An organization is an account customer: its sessions go on
one invoice a month. A driver of their own is an ad-hoc customer: each session gets a
receipt of its own. A :class:`~chargeops.billing.models.BillingAccount` changes that
cycle and carries the legal name, address and VAT number the invoice is addressed to.

**Issuer.** The operator's legal details (name, address, VAT and company numbers, bank,
payment terms, number prefixes, the time zone months are counted in) are one row, set
once by an administrator. Nothing is invoiced until they are set: an invoice without its
issuer's legal name is not an invoice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.billing.models import BillingAccount, InvoiceIssuer
from chargeops.core.clock import utcnow
from chargeops.core.errors import InvalidInput, NotFound
from chargeops.users.models import Organization, User

MONTHLY = "monthly"
PER_SESSION = "session"
CYCLES = (MONTHLY, PER_SESSION)
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,15}")


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True, slots=True)
class Customer:
    """Whom a CDR is invoiced to: ``key`` ("org:5", "user:7", "tag:ABC") groups a
    month's sessions onto one invoice."""

    key: str
    organization_id: int | None
    user_id: int | None
    id_tag: str | None


def customer_of(organization_id: int | None, user_id: int | None, id_tag: str | None) -> Customer:
    if organization_id is not None:
        return Customer(f"org:{organization_id}", organization_id, None, None)
    if user_id is not None:
        return Customer(f"user:{user_id}", None, user_id, None)
    return Customer(f"tag:{id_tag or '-'}", None, None, id_tag)


async def account_of(db: AsyncSession, customer: Customer) -> BillingAccount | None:
    if customer.organization_id is not None:
        clause = BillingAccount.organization_id == customer.organization_id
    elif customer.user_id is not None:
        clause = BillingAccount.user_id == customer.user_id
    else:
        return None
    return (await db.execute(select(BillingAccount).where(clause))).scalar_one_or_none()


async def cycle_of(db: AsyncSession, customer: Customer) -> str:
    """How the customer is invoiced: their account's cycle, else monthly for an
    organization and per session for anyone else."""
    account = await account_of(db, customer)
    if account is not None:
        return account.cycle
    return MONTHLY if customer.organization_id is not None else PER_SESSION


async def addressee(db: AsyncSession, customer: Customer) -> dict[str, Any]:
    """What the invoice says about its customer, copied into it when issued."""
    account = await account_of(db, customer)
    name: str | None = account.name if account else None
    email: str | None = account.email if account else None
    if customer.organization_id is not None:
        org = await db.get(Organization, customer.organization_id)
        name = name or (org.name if org else f"Organization {customer.organization_id}")
    elif customer.user_id is not None:
        user = await db.get(User, customer.user_id)
        name = name or (user.name if user and user.name else None) or (user.email if user else None)
        name = name or f"User {customer.user_id}"
        email = email or (user.email if user else None)
    else:
        name = f"Card {customer.id_tag}" if customer.id_tag else "Driver"
    return {
        "key": customer.key,
        "name": name,
        "address": account.address if account else None,
        "vat_id": account.vat_id if account else None,
        "email": email,
        "reference": account.reference if account else None,
    }


def _text(values: Mapping[str, Any], name: str, limit: int, *, required: bool = False) -> Any:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{name}: required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: text expected")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{name}: at most {limit} characters")
    return value


async def set_account(
    db: AsyncSession,
    *,
    organization_id: int | None = None,
    user_id: int | None = None,
    values: Mapping[str, Any],
) -> BillingAccount:
    """Create or replace the account of an organization or a user (exactly one)."""
    if (organization_id is None) == (user_id is None):
        raise InvalidInput("an account belongs to an organization or to a user: name one")
    if organization_id is not None and await db.get(Organization, organization_id) is None:
        raise NotFound(f"no organization {organization_id}")
    if user_id is not None and await db.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}")
    default = MONTHLY if organization_id is not None else PER_SESSION
    cycle = values.get("cycle") or default
    if cycle not in CYCLES:
        raise InvalidInput(f"cycle: one of {', '.join(CYCLES)}")
    fields = {
        "cycle": cycle,
        "name": _text(values, "name", 200),
        "address": _text(values, "address", 1000),
        "vat_id": _text(values, "vat_id", 40),
        "email": _text(values, "email", 254),
        "reference": _text(values, "reference", 100),
    }
    customer = customer_of(organization_id, user_id, None)
    account = await account_of(db, customer)
    now = utcnow()
    if account is None:
        account = BillingAccount(
            organization_id=organization_id, user_id=user_id, created_at=now, updated_at=now
        )
        db.add(account)
    for name, value in fields.items():
        setattr(account, name, value)
    account.updated_at = now
    await db.flush()
    return account


async def list_accounts(db: AsyncSession) -> list[BillingAccount]:
    return list((await db.execute(select(BillingAccount).order_by(BillingAccount.id))).scalars())


async def remove_account(db: AsyncSession, account_id: int) -> None:
    """Back to the defaults; issued invoices keep the details they were issued with."""
    account = await db.get(BillingAccount, account_id)
    if account is None:
        raise NotFound(f"no billing account {account_id}")
    await db.delete(account)
    await db.flush()


# --------------------------------------------------------------------------- issuer

ISSUER_FIELDS: dict[str, int] = {
    "name": 200,
    "address": 1000,
    "vat_id": 40,
    "company_id": 100,
    "email": 254,
    "phone": 40,
    "website": 200,
    "bank_details": 1000,
    "footer": 2000,
}


async def get_issuer(db: AsyncSession) -> InvoiceIssuer | None:
    return await db.get(InvoiceIssuer, 1)


async def require_issuer(db: AsyncSession) -> InvoiceIssuer:
    issuer = await get_issuer(db)
    if issuer is None:
        raise InvalidInput(
            "the operator's legal details are not set: set them first (in the console, "
            "Invoices, Issuer details; PUT /api/v1/billing/issuer; chargeops billing issuer)"
        )
    return issuer


async def set_issuer(db: AsyncSession, values: Mapping[str, Any]) -> InvoiceIssuer:
    """Set the operator's details (a full replacement: what is left out is cleared,
    except the prefixes, terms and time zone, which keep their defaults)."""
    fields: dict[str, Any] = {
        name: _text(values, name, limit, required=name in ("name", "address"))
        for name, limit in ISSUER_FIELDS.items()
    }
    terms = values.get("payment_terms_days", 14)
    if isinstance(terms, bool) or not isinstance(terms, int) or not 0 <= terms <= 365:
        raise InvalidInput("payment_terms_days: a whole number of days from 0 to 365")
    fields["payment_terms_days"] = terms
    for name, default in (("invoice_prefix", "INV"), ("credit_note_prefix", "CN")):
        prefix = values.get(name) or default
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise InvalidInput(
                f"{name}: 1 to 16 letters, digits or '-', starting with a letter or digit"
            )
        fields[name] = prefix
    if fields["invoice_prefix"].lower() == fields["credit_note_prefix"].lower():
        raise InvalidInput("credit_note_prefix: must differ from invoice_prefix")
    zone = values.get("time_zone") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInput(f"time_zone: {zone!r} is not an IANA time zone") from None
    fields["time_zone"] = zone
    issuer = await get_issuer(db)
    if issuer is None:
        issuer = InvoiceIssuer(id=1)
        db.add(issuer)
    for name, value in fields.items():
        setattr(issuer, name, value)
    issuer.updated_at = utcnow()
    await db.flush()
    return issuer


def issuer_snapshot(issuer: InvoiceIssuer) -> dict[str, Any]:
    """The details an invoice copies, as they are when it is issued."""
    return {name: getattr(issuer, name) for name in ISSUER_FIELDS} | {
        "payment_terms_days": issuer.payment_terms_days
    }
