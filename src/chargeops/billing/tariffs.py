"""Tariffs in the shape of OCPI 2.2.1 (mod_tariffs), so that they can be exchanged as they are.

A :class:`Tariff` is a currency, optional ``min_price``/``max_price`` and an ordered list of
:class:`TariffElement`; each element holds :class:`PriceComponent` (ENERGY per kWh, TIME per
hour charging, PARKING_TIME per hour connected but not charging, FLAT per session) and
optional :class:`Restrictions` saying when the element applies. The order of elements is
part of the price: for each dimension the first element whose restrictions match wins.

Values are kept as OCPI states them, so that :func:`to_ocpi` gives back what
:func:`parse_tariff` read:

- money and rates are ``Decimal`` (JSON numbers are read through their text, never kept
  as float); a price is excl. VAT, and ``vat`` is a percentage per component where
  ``None`` (absent) means "no VAT applicable", which is not the same as ``0`` (0 % VAT):
  invoices print the two differently, so the difference is kept all the way through;
- ``step_size`` is in Wh for ENERGY and in seconds for TIME and PARKING_TIME;
- time of day and dates are local to the site (``time_zone`` of the location), so they
  are ``time``/``date`` values without a zone here; the rating module places them.

What is ours and not OCPI: ``version`` (a session is priced by the version in force when
it started, see :func:`tariff_in_force`), and ``country_code``/``party_id``/``id``/
``last_updated`` being optional, so that a draft in the tariff editor is a Tariff too.

Everything here is pure: no I/O, no database. Bad input raises
:class:`~chargeops.core.errors.InvalidInput` naming the field (``elements[1].restrictions.
start_time``), for the API to show as it is.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from chargeops.core.clock import format_timestamp, parse_timestamp
from chargeops.core.errors import InvalidInput

# --------------------------------------------------------------------------- enums


class DimensionType(enum.StrEnum):
    """OCPI TariffDimensionType: what a price component charges for."""

    ENERGY = "ENERGY"  # per kWh, step_size in Wh
    FLAT = "FLAT"  # per session, no step_size
    PARKING_TIME = "PARKING_TIME"  # per hour connected but not charging, step_size in s
    TIME = "TIME"  # per hour charging (or reserved), step_size in s


class DayOfWeek(enum.StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"

    @property
    def weekday(self) -> int:
        """Monday = 0, as ``date.weekday()`` counts."""
        return _WEEKDAYS.index(self)


_WEEKDAYS = tuple(DayOfWeek)


class ReservationRestriction(enum.StrEnum):
    """OCPI ReservationRestrictionType: an element with one prices a reservation."""

    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffType(enum.StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


# --------------------------------------------------------------------------- currency

# ISO 4217 currencies whose minor unit is not 1/100; everything else has two decimals.
_ZERO_DECIMALS: tuple[str, ...] = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW")
_ZERO_DECIMALS += ("PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF")
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_ZERO_DECIMALS, 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit(currency: str) -> int:
    """Decimal places of a currency's minor unit (EUR 2, JPY 0, KWD 3): where money is
    rounded, once, at the end."""
    return _MINOR_UNITS.get(currency, 2)


# --------------------------------------------------------------------------- values


def _check(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise InvalidInput(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class Price:
    """OCPI Price: an amount excl. VAT and, optionally, incl. VAT.

    ``incl_vat`` is optional in OCPI (a limit may be stated excl. VAT only); in a rating
    result it is always set.
    """

    excl_vat: Decimal
    incl_vat: Decimal | None = None

    def __post_init__(self) -> None:
        _check(self.excl_vat >= 0, "excl_vat", "must not be negative")
        _check(self.incl_vat is None or self.incl_vat >= 0, "incl_vat", "must not be negative")


@dataclass(frozen=True, slots=True)
class DisplayText:
    """OCPI DisplayText: a text in one language (ISO 639-1)."""

    language: str
    text: str


@dataclass(frozen=True, slots=True)
class PriceComponent:
    """One price of an element: ``price`` per unit excl. VAT, ``vat`` in percent.

    ``vat=None`` says no VAT applies to this price (OCPI: "not providing a VAT is
    different from 0 % VAT"). ``step_size`` is in Wh (ENERGY) or seconds (TIME,
    PARKING_TIME), ignored for FLAT; 0 is accepted, as some parties send it for FLAT, and
    bills like 1.
    """

    type: DimensionType
    price: Decimal
    step_size: int = 1
    vat: Decimal | None = None

    def __post_init__(self) -> None:
        # A negative price would be a discount OCPI cannot express, and it would break
        # the promise that a session never costs less than nothing.
        _check(self.price >= 0, "price", "must not be negative")
        _check(self.step_size >= 0, "step_size", "must not be negative")
        _check(self.vat is None or self.vat >= 0, "vat", "must not be negative")


@dataclass(frozen=True, slots=True)
class Restrictions:
    """OCPI TariffRestrictions: when an element applies. Every field set must hold.

    Bounds as OCPI 2.2.1 states them: ``start_time`` inclusive, ``end_time`` exclusive,
    wrapping midnight when ``end_time < start_time`` (equal times: the whole day);
    ``start_date`` inclusive, ``end_date`` exclusive (local dates); ``min_kwh``,
    ``min_power``, ``min_current``, ``min_duration`` inclusive and their ``max_``
    counterparts exclusive. kWh is energy charged in the session so far, duration is
    seconds since the session (or reservation) started, power is in kW and current is
    the sum over phases in A, judged instant by instant. ``reservation`` makes the element
    price a reservation instead of a charging session.
    """

    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: tuple[DayOfWeek, ...] = ()
    reservation: ReservationRestriction | None = None

    def __post_init__(self) -> None:
        for name in (
            "min_kwh",
            "max_kwh",
            "min_current",
            "max_current",
            "min_power",
            "max_power",
            "min_duration",
            "max_duration",
        ):
            value = getattr(self, name)
            _check(value is None or value >= 0, name, "must not be negative")
        # a lower bound at or above the upper bound describes an element that can never
        # apply: almost always a typo, and a silent one, so refuse it
        for low, high in (
            ("min_kwh", "max_kwh"),
            ("min_current", "max_current"),
            ("min_power", "max_power"),
            ("min_duration", "max_duration"),
            ("start_date", "end_date"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            _check(lo is None or hi is None or lo < hi, low, f"must be below {high}")
        _check(len(set(self.day_of_week)) == len(self.day_of_week), "day_of_week", "repeats a day")

    @property
    def uses_local_time(self) -> bool:
        return bool(
            self.start_time is not None
            or self.end_time is not None
            or self.start_date is not None
            or self.end_date is not None
            or self.day_of_week
        )


@dataclass(frozen=True, slots=True)
class TariffElement:
    """Price components that apply together while the restrictions hold.

    ``restrictions=None`` and an empty :class:`Restrictions` price the same; the
    difference is kept only so that a tariff written back is the one that was read.
    """

    price_components: tuple[PriceComponent, ...]
    restrictions: Restrictions | None = None

    def __post_init__(self) -> None:
        _check(bool(self.price_components), "price_components", "needs at least one")
        if self.restrictions is not None and self.restrictions.reservation is not None:
            # OCPI: "A reservation can only have FLAT and TIME TariffDimensions"
            for component in self.price_components:
                _check(
                    component.type in (DimensionType.FLAT, DimensionType.TIME),
                    "price_components",
                    f"a reservation element prices FLAT and TIME only, not {component.type}",
                )

    def component(self, dimension: DimensionType) -> PriceComponent | None:
        """The element's price for a dimension (the first, should it list two)."""
        for candidate in self.price_components:
            if candidate.type == dimension:
                return candidate
        return None


@dataclass(frozen=True, slots=True)
class Tariff:
    """An OCPI 2.2.1 Tariff, plus our ``version``.

    ``start_date_time``/``end_date_time`` say when a version is in force (UTC);
    ``energy_mix`` is carried through unread (it prices nothing) and kept out of the hash.
    """

    currency: str
    elements: tuple[TariffElement, ...]
    id: str | None = None
    version: int | None = None
    country_code: str | None = None
    party_id: str | None = None
    type: TariffType | None = None
    tariff_alt_text: tuple[DisplayText, ...] = ()
    tariff_alt_url: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    energy_mix: Mapping[str, Any] | None = field(default=None, hash=False)
    last_updated: datetime | None = None

    def __post_init__(self) -> None:
        _check(bool(_CURRENCY.fullmatch(self.currency)), "currency", "not an ISO 4217 code")
        _check(bool(self.elements), "elements", "needs at least one")
        low, high = self.min_price, self.max_price
        if low is not None and high is not None:
            _check(low.excl_vat <= high.excl_vat, "min_price", "is above max_price")
            if low.incl_vat is not None and high.incl_vat is not None:
                _check(low.incl_vat <= high.incl_vat, "min_price", "is above max_price")
        for name in ("start_date_time", "end_date_time", "last_updated"):
            value = getattr(self, name)
            _check(value is None or value.tzinfo is not None, name, "needs a time zone")
        if self.start_date_time is not None and self.end_date_time is not None:
            _check(
                self.start_date_time < self.end_date_time,
                "start_date_time",
                "must be before end_date_time",
            )

    @property
    def minor_unit(self) -> int:
        return minor_unit(self.currency)

    def in_force_at(self, instant: datetime) -> bool:
        """Whether this version applies to a session that starts at ``instant``."""
        if self.start_date_time is not None and instant < self.start_date_time:
            return False
        return self.end_date_time is None or instant < self.end_date_time


def tariff_in_force(versions: Iterable[Tariff], started_at: datetime) -> Tariff | None:
    """The version that prices a session started at ``started_at``.

    A driver accepts the price shown when they start (OCPI, NEVI 680.116(a)), so a
    session is priced by the version in force at its start, whatever changes later. Of
    several in force, the highest ``version`` wins, then the latest ``start_date_time``.
    """
    candidates = [v for v in versions if v.in_force_at(started_at)]
    if not candidates:
        return None
    floor = datetime.min.replace(tzinfo=started_at.tzinfo)
    return max(
        candidates,
        key=lambda v: (
            v.version if v.version is not None else -1,
            v.start_date_time or floor,
        ),
    )


# --------------------------------------------------------------------------- parsing

_E = TypeVar("_E", bound=enum.StrEnum)
_T = TypeVar("_T")

_CURRENCY = re.compile(r"[A-Z]{3}")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")

_TARIFF_FIELDS = frozenset(
    {
        "country_code",
        "party_id",
        "id",
        "currency",
        "type",
        "tariff_alt_text",
        "tariff_alt_url",
        "min_price",
        "max_price",
        "elements",
        "start_date_time",
        "end_date_time",
        "energy_mix",
        "last_updated",
    }
)
_ELEMENT_FIELDS = frozenset({"price_components", "restrictions"})
_COMPONENT_FIELDS = frozenset({"type", "price", "vat", "step_size"})
_PRICE_FIELDS = frozenset({"excl_vat", "incl_vat"})
_RESTRICTION_FIELDS = frozenset(f.name for f in Restrictions.__dataclass_fields__.values())


def _mapping(value: object, path: str, known: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{path or 'tariff'}: must be an object")
    # Unknown fields are refused rather than skipped: a misspelt "min_prize" or
    # "step" that is silently dropped changes what drivers pay.
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:
        where = f"{path}." if path else ""
        raise InvalidInput(f"{where}{unknown[0]}: unknown field")
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _decimal(value: object, path: str) -> Decimal:
    """A JSON number as an exact Decimal, read through its text (0.1 stays 0.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidInput(f"{path}: must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"{path}: not a number: {value!r}") from exc
    if not number.is_finite():
        raise InvalidInput(f"{path}: not a finite number: {value!r}")
    return number


def _non_negative(value: object, path: str) -> Decimal:
    number = _decimal(value, path)
    if number < 0:
        raise InvalidInput(f"{path}: must not be negative")
    return number


def _integer(value: object, path: str) -> int:
    number = _decimal(value, path)
    if number != number.to_integral_value():
        raise InvalidInput(f"{path}: must be a whole number")
    if number < 0:
        raise InvalidInput(f"{path}: must not be negative")
    return int(number)


def _text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{path}: must be a string")
    return value


def _enum(kind: type[_E], value: object, path: str) -> _E:
    text = _text(value, path)
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"{path}: {text!r} is not one of {allowed}") from None


def _list(value: object, path: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{path}: must be a list")
    return value


def _time_of_day(value: object, path: str) -> time:
    text = _text(value, path)
    match = _TIME.fullmatch(text)
    if match is None:
        raise InvalidInput(f"{path}: {text!r} is not a time of day HH:MM (00:00 to 23:59)")
    return time(int(match[1]), int(match[2]))


def _date(value: object, path: str) -> date:
    text = _text(value, path)
    if _DATE.fullmatch(text) is None:
        raise InvalidInput(f"{path}: {text!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{path}: {text!r} is not a date") from exc


def _timestamp(value: object, path: str) -> datetime:
    try:
        return parse_timestamp(_text(value, path))
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.detail}") from exc


def _price(value: object, path: str) -> Price:
    data = _mapping(value, path, _PRICE_FIELDS)
    if "excl_vat" not in data:
        raise InvalidInput(f"{path}.excl_vat: required")
    incl = data.get("incl_vat")
    return Price(
        excl_vat=_non_negative(data["excl_vat"], f"{path}.excl_vat"),
        incl_vat=None if incl is None else _non_negative(incl, f"{path}.incl_vat"),
    )


def _component(value: object, path: str) -> PriceComponent:
    data = _mapping(value, path, _COMPONENT_FIELDS)
    for required in ("type", "price", "step_size"):
        if required not in data:
            raise InvalidInput(f"{path}.{required}: required")
    vat = data.get("vat")
    return PriceComponent(
        type=_enum(DimensionType, data["type"], f"{path}.type"),
        price=_non_negative(data["price"], f"{path}.price"),
        step_size=_integer(data["step_size"], f"{path}.step_size"),
        vat=None if vat is None else _non_negative(vat, f"{path}.vat"),
    )


def _restrictions(value: object, path: str) -> Restrictions:
    data = _mapping(value, path, _RESTRICTION_FIELDS)
    values: dict[str, Any] = {}
    for name in ("start_time", "end_time"):
        if data.get(name) is not None:
            values[name] = _time_of_day(data[name], f"{path}.{name}")
    for name in ("start_date", "end_date"):
        if data.get(name) is not None:
            values[name] = _date(data[name], f"{path}.{name}")
    for name in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
        if data.get(name) is not None:
            values[name] = _non_negative(data[name], f"{path}.{name}")
    for name in ("min_duration", "max_duration"):
        if data.get(name) is not None:
            values[name] = _integer(data[name], f"{path}.{name}")
    if data.get("day_of_week") is not None:
        days = _list(data["day_of_week"], f"{path}.day_of_week")
        values["day_of_week"] = tuple(
            _enum(DayOfWeek, day, f"{path}.day_of_week[{i}]") for i, day in enumerate(days)
        )
    if data.get("reservation") is not None:
        values["reservation"] = _enum(
            ReservationRestriction, data["reservation"], f"{path}.reservation"
        )
    return _build(Restrictions, path, **values)


def _build(kind: type[_T], path: str, **values: Any) -> _T:
    """Construct a value, prefixing the path to what its own checks say."""
    try:
        return kind(**values)
    except InvalidInput as exc:
        raise InvalidInput(f"{_join(path, exc.detail)}") from exc


def _element(value: object, path: str) -> TariffElement:
    data = _mapping(value, path, _ELEMENT_FIELDS)
    components = _list(data.get("price_components"), f"{path}.price_components")
    if not components:
        raise InvalidInput(f"{path}.price_components: needs at least one")
    restrictions = data.get("restrictions")
    return _build(
        TariffElement,
        path,
        price_components=tuple(
            _component(c, f"{path}.price_components[{i}]") for i, c in enumerate(components)
        ),
        restrictions=None
        if restrictions is None
        else _restrictions(restrictions, f"{path}.restrictions"),
    )


def parse_tariff(data: object, *, version: int | None = None) -> Tariff:
    """Read an OCPI 2.2.1 Tariff object (as decoded JSON) into a :class:`Tariff`.

    Numbers may arrive as int, float (read through ``str``, so 0.1 is 0.1), Decimal or
    numeric text. ``version`` is ours, not an OCPI field: the caller's store assigns it.
    """
    top = _mapping(data, "", _TARIFF_FIELDS)
    if "currency" not in top:
        raise InvalidInput("currency: required")
    elements = _list(top.get("elements"), "elements")
    if not elements:
        raise InvalidInput("elements: needs at least one")
    values: dict[str, Any] = {
        "currency": _text(top["currency"], "currency"),
        "elements": tuple(_element(e, f"elements[{i}]") for i, e in enumerate(elements)),
        "version": version,
    }
    for name in ("id", "country_code", "party_id", "tariff_alt_url"):
        if top.get(name) is not None:
            values[name] = _text(top[name], name)
    if top.get("type") is not None:
        values["type"] = _enum(TariffType, top["type"], "type")
    if top.get("tariff_alt_text") is not None:
        texts = []
        for i, item in enumerate(_list(top["tariff_alt_text"], "tariff_alt_text")):
            path = f"tariff_alt_text[{i}]"
            entry = _mapping(item, path, frozenset({"language", "text"}))
            texts.append(
                DisplayText(
                    language=_text(entry.get("language"), f"{path}.language"),
                    text=_text(entry.get("text"), f"{path}.text"),
                )
            )
        values["tariff_alt_text"] = tuple(texts)
    for name in ("min_price", "max_price"):
        if top.get(name) is not None:
            values[name] = _price(top[name], name)
    for name in ("start_date_time", "end_date_time", "last_updated"):
        if top.get(name) is not None:
            values[name] = _timestamp(top[name], name)
    mix = top.get("energy_mix")
    if mix is not None:
        if not isinstance(mix, Mapping):
            raise InvalidInput("energy_mix: must be an object")
        values["energy_mix"] = dict(mix)
    return _build(Tariff, "", **values)


# --------------------------------------------------------------------------- writing


def _price_out(price: Price) -> dict[str, Any]:
    out: dict[str, Any] = {"excl_vat": price.excl_vat}
    if price.incl_vat is not None:
        out["incl_vat"] = price.incl_vat
    return out


def _restrictions_out(r: Restrictions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("start_time", "end_time"):
        value = getattr(r, name)
        if value is not None:
            out[name] = value.strftime("%H:%M")
    for name in ("start_date", "end_date"):
        value = getattr(r, name)
        if value is not None:
            out[name] = value.isoformat()
    for name in (
        "min_kwh",
        "max_kwh",
        "min_current",
        "max_current",
        "min_power",
        "max_power",
        "min_duration",
        "max_duration",
    ):
        value = getattr(r, name)
        if value is not None:
            out[name] = value
    if r.day_of_week:
        out["day_of_week"] = [day.value for day in r.day_of_week]
    if r.reservation is not None:
        out["reservation"] = r.reservation.value
    return out


def to_ocpi(tariff: Tariff) -> dict[str, Any]:
    """The OCPI 2.2.1 Tariff object for a :class:`Tariff`; ``parse_tariff`` reads it back.

    Numbers stay ``Decimal`` so nothing is lost on the way; the JSON encoder at the edge
    writes them (orjson: ``default=float`` is exact for prices of up to 15 digits).
    ``version`` is not an OCPI field and is not written.
    """
    out: dict[str, Any] = {}
    for name in ("country_code", "party_id", "id"):
        value = getattr(tariff, name)
        if value is not None:
            out[name] = value
    out["currency"] = tariff.currency
    if tariff.type is not None:
        out["type"] = tariff.type.value
    if tariff.tariff_alt_text:
        out["tariff_alt_text"] = [
            {"language": t.language, "text": t.text} for t in tariff.tariff_alt_text
        ]
    if tariff.tariff_alt_url is not None:
        out["tariff_alt_url"] = tariff.tariff_alt_url
    if tariff.min_price is not None:
        out["min_price"] = _price_out(tariff.min_price)
    if tariff.max_price is not None:
        out["max_price"] = _price_out(tariff.max_price)
    elements = []
    for element in tariff.elements:
        components = []
        for c in element.price_components:
            component: dict[str, Any] = {"type": c.type.value, "price": c.price}
            if c.vat is not None:
                component["vat"] = c.vat
            component["step_size"] = c.step_size
            components.append(component)
        item: dict[str, Any] = {"price_components": components}
        if element.restrictions is not None:
            item["restrictions"] = _restrictions_out(element.restrictions)
        elements.append(item)
    out["elements"] = elements
    for name in ("start_date_time", "end_date_time"):
        value = getattr(tariff, name)
        if value is not None:
            out[name] = format_timestamp(value)
    if tariff.energy_mix is not None:
        out["energy_mix"] = dict(tariff.energy_mix)
    if tariff.last_updated is not None:
        out["last_updated"] = format_timestamp(tariff.last_updated)
    return out


# --------------------------------------------------------------------------- in words

_DAY_NAMES = {day: day.value.capitalize() for day in DayOfWeek}
_WEEKDAY_SET = frozenset(_WEEKDAYS[:5])
_WEEKEND_SET = frozenset(_WEEKDAYS[5:])


def _amount(value: Decimal, currency: str) -> str:
    """Money as a driver reads it: the minor unit, or up to 4 decimals where a price per
    unit has more (0.3899 EUR per kWh is shown as it is, not as 0.39)."""
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    if value == value.quantize(quantum):
        return f"{value.quantize(quantum)} {currency}"
    shown = value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
    return f"{shown:f} {currency}"


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _minutes(seconds: int) -> str:
    # "60 minutes" as price boards say it; whole hours from two hours on
    if seconds % 3600 == 0 and seconds >= 7200:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    return f"{seconds} seconds"


def _days(days: tuple[DayOfWeek, ...]) -> str:
    chosen = frozenset(days)
    if chosen == _WEEKDAY_SET:
        return "on weekdays"
    if chosen == _WEEKEND_SET:
        return "at weekends"
    names = [_DAY_NAMES[d] for d in _WEEKDAYS if d in chosen]
    if len(names) == 1:
        return f"on {names[0]}"
    return "on " + ", ".join(names[:-1]) + " and " + names[-1]


def _conditions(r: Restrictions | None) -> list[str]:
    if r is None:
        return []
    words: list[str] = []
    if r.start_time is not None and r.end_time is not None:
        words.append(f"from {r.start_time:%H:%M} to {r.end_time:%H:%M}")
    elif r.start_time is not None:
        words.append(f"from {r.start_time:%H:%M}")
    elif r.end_time is not None:
        words.append(f"before {r.end_time:%H:%M}")
    if r.day_of_week:
        words.append(_days(r.day_of_week))
    if r.start_date is not None and r.end_date is not None:
        last = r.end_date - timedelta(days=1)
        words.append(f"from {r.start_date.isoformat()} to {last.isoformat()}")
    elif r.start_date is not None:
        words.append(f"from {r.start_date.isoformat()}")
    elif r.end_date is not None:
        words.append(f"before {r.end_date.isoformat()}")
    # a lower bound of 0 says nothing a driver needs to read
    min_duration = r.min_duration or None
    min_kwh = r.min_kwh or None
    if min_duration is not None and r.max_duration is not None:
        words.append(
            f"between {_minutes(min_duration)} and {_minutes(r.max_duration)} into the session"
        )
    elif min_duration is not None:
        words.append(f"after {_minutes(min_duration)}")
    elif r.max_duration is not None:
        words.append(f"for the first {_minutes(r.max_duration)}")
    if min_kwh is not None and r.max_kwh is not None:
        words.append(f"from {_number(min_kwh)} kWh up to {_number(r.max_kwh)} kWh charged")
    elif min_kwh is not None:
        words.append(f"once {_number(min_kwh)} kWh are charged")
    elif r.max_kwh is not None:
        words.append(f"for the first {_number(r.max_kwh)} kWh")
    for low, high, unit in (
        (r.min_power, r.max_power, "kW"),
        (r.min_current, r.max_current, "A"),
    ):
        if low is not None and high is not None:
            words.append(f"while charging at {_number(low)} to {_number(high)} {unit}")
        elif low is not None:
            words.append(f"while charging at {_number(low)} {unit} or more")
        elif high is not None:
            words.append(f"while charging below {_number(high)} {unit}")
    return words


def _step_words(component: PriceComponent) -> str | None:
    step = component.step_size
    if component.type == DimensionType.ENERGY and step > 1:
        return f"billed per {_number(Decimal(step) / 1000)} kWh"
    if component.type in (DimensionType.TIME, DimensionType.PARKING_TIME) and step > 1:
        if step == 60:
            return "billed per started minute"
        return f"billed per started {_minutes(step)}" if step % 60 == 0 else f"billed per {step} s"
    return None


def _per_unit(component: PriceComponent, price: Decimal, currency: str, reserved: bool) -> str:
    kind = component.type
    if kind == DimensionType.FLAT:
        return f"{_amount(price, currency)} " + ("reservation fee" if reserved else "per session")
    if kind == DimensionType.ENERGY:
        return f"{_amount(price, currency)} per kWh"
    # per hour in OCPI; per minute reads better wherever it is a short exact figure
    per_minute = price / 60
    if per_minute == per_minute.quantize(Decimal("0.0001")):
        figure = f"{_amount(per_minute, currency)} per minute"
    else:
        figure = f"{_amount(price, currency)} per hour"
    if kind == DimensionType.PARKING_TIME:
        return f"{figure} connected but not charging"
    return f"{figure} of reservation" if reserved else f"{figure} charging"


def describe_tariff(tariff: Tariff, *, incl_vat: bool = True) -> str:
    """A tariff in plain words, for the price shown before charging (AFIR, NEVI).

    For example ``"0.39 EUR per kWh, 0.10 EUR per minute charging after 60 minutes,
    1.00 EUR per session; at most 30.00 EUR per session; prices incl. VAT"``. Elements are
    read in order; a later element for a dimension that an earlier, restricted one also
    prices is introduced by "otherwise", since it is the fallback.
    """
    phrases: list[str] = []
    restricted_before: set[tuple[DimensionType, ReservationRestriction | None]] = set()
    no_vat = False
    for element in tariff.elements:
        r = element.restrictions
        reservation = r.reservation if r is not None else None
        conditions = _conditions(r)
        for component in element.price_components:
            key = (component.type, reservation)
            price = component.price
            if incl_vat and component.vat is not None:
                price = price * (1 + component.vat / 100)
            elif component.vat is None and component.price != 0:
                no_vat = True
            if component.price == 0 and component.type == DimensionType.FLAT and not conditions:
                words = "free of charge" if reservation is None else "reservation free of charge"
            else:
                words = _per_unit(component, price, tariff.currency, reservation is not None)
            extra = [*conditions]
            if reservation == ReservationRestriction.RESERVATION_EXPIRES:
                extra.append("if the reservation expires unused")
            step = _step_words(component)
            if step is not None:
                extra.append(f"({step})")
            if key in restricted_before and not conditions:
                words = f"otherwise {words}"
            phrases.append(" ".join([words, *extra]))
            if conditions:
                restricted_before.add(key)
    text = ", ".join(phrases)
    if tariff.min_price is not None:
        text += f"; at least {_limit(tariff.min_price, tariff.currency, incl_vat)} per session"
    if tariff.max_price is not None:
        text += f"; at most {_limit(tariff.max_price, tariff.currency, incl_vat)} per session"
    if incl_vat:
        text += "; prices incl. VAT" + (" where VAT applies" if no_vat else "")
    else:
        text += "; prices excl. VAT"
    return text


def _limit(price: Price, currency: str, incl_vat: bool) -> str:
    if incl_vat and price.incl_vat is not None:
        return _amount(price.incl_vat, currency)
    suffix = " excl. VAT" if incl_vat else ""
    return _amount(price.excl_vat, currency) + suffix
