"""The tariff editor's structured form, and the OCPI 2.2.1 document it stands for.

An operator prices the common cases without knowing OCPI: one VAT rate, optional
minimum and maximum session prices, how time and energy are rounded, and rows of
prices (per kWh, per hour charging, per hour parked, per session) each with optional
conditions (time of day, days of the week, minutes into the session, kWh charged,
charging power). A row is an OCPI tariff element, in the same order: for each kind of
price the first row whose conditions hold sets it, which is how OCPI reads a tariff.

A document the form cannot show exactly (another field, two VAT rates, a step the form
does not offer...) opens in the editor's JSON mode instead, with the reasons, so that
a new version never silently drops what the previous one said.

Pure: no I/O. Mistakes raise :class:`~chargeops.core.errors.InvalidInput` in the form's
own words ("Row 2, parking price: ..."); the billing service checks the document again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.datastructures import FormData

from chargeops.billing.tariffs import DayOfWeek, DimensionType
from chargeops.core.errors import InvalidInput

DAYS: tuple[tuple[str, str], ...] = tuple((d.value, d.value[:3].capitalize()) for d in DayOfWeek)
ENERGY_STEPS: tuple[tuple[str, str], ...] = (
    ("1", "to the Wh (exact)"),
    ("100", "per started 0.1 kWh"),
    ("1000", "per started kWh"),
)
TIME_STEPS: tuple[tuple[str, str], ...] = (
    ("1", "to the second (exact)"),
    ("60", "per started minute"),
    ("300", "per started 5 minutes"),
    ("900", "per started 15 minutes"),
    ("3600", "per started hour"),
)
# the prices of a row, in the order a document lists them, and what the form calls them
PRICES: tuple[tuple[str, DimensionType, str], ...] = (
    ("energy", DimensionType.ENERGY, "energy price"),
    ("time", DimensionType.TIME, "charging time price"),
    ("parking", DimensionType.PARKING_TIME, "parking price"),
    ("flat", DimensionType.FLAT, "session fee"),
)
_KEY = re.compile(r"[A-Za-z0-9]{1,8}")
_AMOUNT = re.compile(r"\d{1,9}(\.\d{1,6})?")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_MAX_ROWS = 50
_FORM_TOP = frozenset({"currency", "elements", "min_price", "max_price"})
_FORM_RESTRICTIONS = frozenset(
    {
        "start_time",
        "end_time",
        "day_of_week",
        "min_duration",
        "max_duration",
        "min_kwh",
        "max_kwh",
        "min_power",
        "max_power",
    }
)
# the service's field names as the form says them, for its messages
_WORDS = {
    "start_time": "from (time of day)",
    "end_time": "until (time of day)",
    "day_of_week": "days",
    "min_duration": "after (minutes)",
    "max_duration": "up to (minutes)",
    "min_kwh": "from kWh",
    "max_kwh": "up to kWh",
    "min_power": "from kW",
    "max_power": "below kW",
    "min_price": "minimum price",
    "max_price": "maximum price",
    "excl_vat": "excl. VAT",
    "time_zone": "time zone",
}


@dataclass(slots=True)
class ElementRow:
    """One row of prices and its conditions, as text the way the form shows it."""

    key: str
    energy: str = ""
    time: str = ""
    parking: str = ""
    flat: str = ""
    start_time: str = ""
    end_time: str = ""
    days: list[str] = field(default_factory=list)
    after_minutes: str = ""
    before_minutes: str = ""
    min_kwh: str = ""
    max_kwh: str = ""
    min_kw: str = ""
    max_kw: str = ""

    @property
    def blank(self) -> bool:
        return not any(
            (
                self.energy,
                self.time,
                self.parking,
                self.flat,
                self.start_time,
                self.end_time,
                self.days,
                self.after_minutes,
                self.before_minutes,
                self.min_kwh,
                self.max_kwh,
                self.min_kw,
                self.max_kw,
            )
        )

    @property
    def more_conditions(self) -> bool:
        """Whether the row uses the conditions the form folds away (kWh, power)."""
        return bool(self.min_kwh or self.max_kwh or self.min_kw or self.max_kw)

    def price(self, name: str) -> str:
        value: str = getattr(self, name)
        return value


@dataclass(slots=True)
class Draft:
    """The structured form: what it showed, or was sent back with."""

    vat: str = ""
    min_price: str = ""
    max_price: str = ""
    energy_step: str = "1"
    time_step: str = "1"
    rows: list[ElementRow] = field(default_factory=lambda: [ElementRow("0")])

    # --- reading the posted form ---------------------------------------------------------

    @classmethod
    def posted(cls, form: FormData) -> Draft:
        keys: list[str] = []
        for value in form.getlist("row"):
            if isinstance(value, str) and _KEY.fullmatch(value) and value not in keys:
                keys.append(value)
        return cls(
            vat=_text(form, "vat"),
            min_price=_text(form, "min_price"),
            max_price=_text(form, "max_price"),
            energy_step=_text(form, "energy_step") or "1",
            time_step=_text(form, "time_step") or "1",
            rows=[_row(form, key) for key in keys[:_MAX_ROWS]],
        )

    def with_row_added(self) -> Draft:
        """The form with one more, empty, row (a key no row has)."""
        taken = {r.key for r in self.rows}
        number = len(self.rows)
        while f"n{number}" in taken:
            number += 1
        self.rows.append(ElementRow(f"n{number}"))
        return self

    def without_row(self, key: str) -> Draft:
        self.rows = [r for r in self.rows if r.key != key] or [ElementRow("0")]
        return self

    # --- the document --------------------------------------------------------------------

    def document(self, currency: str) -> dict[str, Any]:
        """The OCPI document the form describes; InvalidInput in the form's words."""
        vat = _amount(self.vat, "VAT") if self.vat else None
        if vat is not None and vat > 100:
            raise InvalidInput(f"VAT: {self.vat}% is more than 100%; give the rate in percent")
        energy_step = _choice(self.energy_step, ENERGY_STEPS, "energy billed")
        time_step = _choice(self.time_step, TIME_STEPS, "time billed")
        elements = []
        for number, row in enumerate(self.rows, start=1):
            if row.blank:
                continue
            elements.append(_element(row, number, vat, energy_step, time_step))
        if not elements:
            raise InvalidInput(
                "prices: give at least one (energy, charging time, parking or a session fee)"
            )
        document: dict[str, Any] = {"currency": currency.strip().upper(), "elements": elements}
        low = _amount(self.min_price, "minimum price") if self.min_price else None
        high = _amount(self.max_price, "maximum price") if self.max_price else None
        if low is not None and high is not None and low > high:
            raise InvalidInput(
                f"minimum price: {self.min_price} is above the maximum price {self.max_price}"
            )
        if low is not None:
            document["min_price"] = {"excl_vat": str(low)}
        if high is not None:
            document["max_price"] = {"excl_vat": str(high)}
        return document

    def positions(self) -> list[int]:
        """The row number (as the form shows it) of each element of the document."""
        return [n for n, row in enumerate(self.rows, start=1) if not row.blank]

    # --- a stored document back into the form --------------------------------------------

    @classmethod
    def of_document(cls, document: Mapping[str, Any]) -> tuple[Draft | None, list[str]]:
        """The form showing a document, or None and why the form cannot show it."""
        reasons = [f"it sets {name}" for name in sorted(set(document) - _FORM_TOP)]
        draft = cls(rows=[])
        for name in ("min_price", "max_price"):
            limit = document.get(name)
            if limit is None:
                continue
            if limit.get("incl_vat") is not None:
                reasons.append(f"its {_WORDS[name]} states an amount incl. VAT")
            setattr(draft, name, str(limit.get("excl_vat", "")))
        vats: set[str | None] = set()
        energy_steps: set[str] = set()
        time_steps: set[str] = set()
        for index, element in enumerate(document.get("elements") or ()):
            row = ElementRow(str(index))
            seen: set[str] = set()
            for component in element.get("price_components") or ():
                kind = component.get("type")
                price = next((n for n, d, _ in PRICES if d.value == kind), None)
                if price is None or price in seen:
                    reasons.append(f"row {index + 1} lists {kind} twice")
                    continue
                seen.add(price)
                setattr(row, price, str(component.get("price", "")))
                vat = component.get("vat")
                vats.add(None if vat is None else str(vat))
                step = str(component.get("step_size", 1))
                if kind == DimensionType.ENERGY:
                    energy_steps.add(step)
                elif kind != DimensionType.FLAT:
                    time_steps.add(step)
            reasons += _restrictions_into(row, element.get("restrictions") or {}, index + 1)
            draft.rows.append(row)
        if len(vats) > 1:
            reasons.append("its prices have different VAT rates")
        elif vats:
            (vat,) = vats
            draft.vat = "" if vat is None else vat
        for steps, options, words in (
            (energy_steps, ENERGY_STEPS, "energy"),
            (time_steps, TIME_STEPS, "time"),
        ):
            offered = {value for value, _ in options}
            if len(steps) > 1 or not steps <= offered:
                reasons.append(f"it bills {words} in steps the form does not offer")
        draft.energy_step = next(iter(energy_steps), "1")
        draft.time_step = next(iter(time_steps), "1")
        if not draft.rows:
            draft.rows = [ElementRow("0")]
        return (None, reasons) if reasons else (draft, [])


def in_form_words(detail: str, positions: list[int]) -> str:
    """A service message about a document the form made, in the form's words:
    ``document.elements[1].restrictions.min_kwh`` is "row 3, from kWh"."""

    def element(match: re.Match[str]) -> str:
        index = int(match.group(1))
        number = positions[index] if index < len(positions) else index + 1
        return f"row {number}, "

    text = detail.removeprefix("document.")
    text = re.sub(r"elements\[(\d+)\]\.(restrictions\.|price_components\[\d+\]\.)?", element, text)
    for name, words in _WORDS.items():
        text = re.sub(rf"\b{name}\b", words, text)
    return text


# --- reading fields --------------------------------------------------------------------------


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:100] if isinstance(value, str) else ""


def _row(form: FormData, key: str) -> ElementRow:
    def get(name: str) -> str:
        return _text(form, f"e{key}_{name}")

    days = [v for v in form.getlist(f"e{key}_days") if isinstance(v, str)]
    return ElementRow(
        key=key,
        energy=get("energy"),
        time=get("time"),
        parking=get("parking"),
        flat=get("flat"),
        start_time=_clock_text(get("start")),
        end_time=_clock_text(get("end")),
        days=[d for d, _ in DAYS if d in days],
        after_minutes=get("after"),
        before_minutes=get("before"),
        min_kwh=get("min_kwh"),
        max_kwh=get("max_kwh"),
        min_kw=get("min_kw"),
        max_kw=get("max_kw"),
    )


def _clock_text(text: str) -> str:
    # a time input may send seconds ("18:00:00"); the form and OCPI keep HH:MM
    return text[:5] if re.fullmatch(r"\d\d:\d\d:00", text) else text


def _amount(text: str, what: str) -> Decimal:
    """A non-negative amount as typed ("0.39", "0,39"): kept exactly, never a float."""
    cleaned = text.replace(",", ".").strip()
    if not _AMOUNT.fullmatch(cleaned):
        raise InvalidInput(
            f"{what}: {text!r} is not an amount; use digits and a decimal point, e.g. 0.39"
        )
    return Decimal(cleaned)


def _minutes(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 6:
        raise InvalidInput(f"{what}: {text!r} is not a whole number of minutes")
    return int(text)


def _clock(text: str, what: str) -> str:
    if not _CLOCK.fullmatch(text):
        raise InvalidInput(f"{what}: {text!r} is not a time of day (HH:MM, e.g. 17:30)")
    return text


def _choice(value: str, options: tuple[tuple[str, str], ...], what: str) -> int:
    if value not in {v for v, _ in options}:
        raise InvalidInput(f"{what}: choose one of the options offered")
    return int(value)


def _element(
    row: ElementRow, number: int, vat: Decimal | None, energy_step: int, time_step: int
) -> dict[str, Any]:
    where = f"row {number}"
    components = []
    for name, kind, words in PRICES:
        text = row.price(name)
        if not text:
            continue
        price = _amount(text, f"{where}, {words}")
        component: dict[str, Any] = {"type": kind.value, "price": str(price)}
        if vat is not None:
            component["vat"] = str(vat)
        if kind == DimensionType.ENERGY:
            component["step_size"] = energy_step
        elif kind == DimensionType.FLAT:
            component["step_size"] = 1
        else:
            component["step_size"] = time_step
        components.append(component)
    if not components:
        raise InvalidInput(
            f"{where}: it has conditions but no price; give a price or clear the row"
        )
    element: dict[str, Any] = {"price_components": components}
    restrictions: dict[str, Any] = {}
    if row.start_time:
        restrictions["start_time"] = _clock(row.start_time, f"{where}, from")
    if row.end_time:
        restrictions["end_time"] = _clock(row.end_time, f"{where}, until")
    if row.days:
        restrictions["day_of_week"] = list(row.days)
    for attribute, key, words in (
        ("after_minutes", "min_duration", "after (minutes)"),
        ("before_minutes", "max_duration", "up to (minutes)"),
    ):
        text = getattr(row, attribute)
        if text:
            restrictions[key] = _minutes(text, f"{where}, {words}") * 60
    for attribute, key, words in (
        ("min_kwh", "min_kwh", "from kWh"),
        ("max_kwh", "max_kwh", "up to kWh"),
        ("min_kw", "min_power", "from kW"),
        ("max_kw", "max_power", "below kW"),
    ):
        text = getattr(row, attribute)
        if text:
            restrictions[key] = str(_amount(text, f"{where}, {words}"))
    for low, high, words in (
        ("min_duration", "max_duration", "minutes"),
        ("min_kwh", "max_kwh", "kWh"),
        ("min_power", "max_power", "kW"),
    ):
        if (
            low in restrictions
            and high in restrictions
            and Decimal(restrictions[low]) >= Decimal(restrictions[high])
        ):
            raise InvalidInput(
                f"{where}: the lower bound in {words} must be below the upper bound, "
                "or the row never applies"
            )
    if restrictions:
        element["restrictions"] = restrictions
    return element


def _restrictions_into(row: ElementRow, restrictions: Mapping[str, Any], number: int) -> list[str]:
    """Fill a row's conditions from a document's; the reasons the form cannot show them."""
    reasons = [
        f"row {number} has the condition {name}"
        for name in sorted(set(restrictions) - _FORM_RESTRICTIONS)
    ]
    row.start_time = str(restrictions.get("start_time") or "")
    row.end_time = str(restrictions.get("end_time") or "")
    row.days = [d for d, _ in DAYS if d in (restrictions.get("day_of_week") or ())]
    for key, attribute in (("min_duration", "after_minutes"), ("max_duration", "before_minutes")):
        seconds = restrictions.get(key)
        if seconds is None:
            continue
        if int(seconds) % 60:
            reasons.append(f"row {number} counts {key} in seconds, not whole minutes")
        setattr(row, attribute, str(int(seconds) // 60))
    for key, attribute in (
        ("min_kwh", "min_kwh"),
        ("max_kwh", "max_kwh"),
        ("min_power", "min_kw"),
        ("max_power", "max_kw"),
    ):
        value = restrictions.get(key)
        if value is not None:
            setattr(row, attribute, str(value))
    return reasons
