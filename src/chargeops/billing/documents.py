"""An invoice as people read it: HTML for the browser, PDF to keep and send.

Both are drawn from one :class:`InvoiceView` (every figure and date already written out),
so the two can never disagree. Times are shown in the invoice's time zone (the issuer's
when it was issued) and say so; amounts with their currency, as stored: they were
rounded once, when the session was rated.

PDFs are drawn with ReportLab, with a TrueType font embedded (DejaVu Sans when the system
has it, else the Bitstream Vera that ships with ReportLab) so names in any Latin script
print as written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from chargeops.billing.invoices import CREDIT_NOTE, duration_text
from chargeops.billing.models import Invoice, InvoiceLine

TEMPLATES = Path(__file__).parent / "templates"
SIGNED_NOTE = (
    "The meter signed these readings. Check them, with the meter's public key, in "
    "transparency software (e.g. the S.A.F.E. Transparenzsoftware for OCMF)."
)
_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)


@dataclass(frozen=True, slots=True)
class LineView:
    position: int
    description: str
    session: str
    when: str
    kwh: str
    duration: str
    vat_rate: str
    excl_vat: str
    vat: str
    incl_vat: str


@dataclass(frozen=True, slots=True)
class SignedView:
    """A session's signed meter readings, as the charger sent them."""

    position: int
    session: str
    readings: list[dict[str, str]]  # when, format, data, and the key and method where known


@dataclass(frozen=True, slots=True)
class InvoiceView:
    title: str
    number: str
    credits: str | None  # the invoice a credit note corrects
    reason: str | None
    issuer: dict[str, Any]
    issuer_lines: list[str]
    customer_name: str
    customer_lines: list[str]
    facts: list[tuple[str, str]]  # (label, value): dates, period, reference
    lines: list[LineView]
    taxes: list[tuple[str, str, str, str]]  # rate, base, VAT, total
    total_excl_vat: str
    total_vat: str
    total_incl_vat: str
    payment: list[str]
    footer: str | None
    time_zone: str
    signed: list[SignedView]


def money(value: Decimal, currency: str) -> str:
    return f"{currency} {value:,.{max(0, -_exponent(value))}f}"


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _rate(rate: str | None) -> str:
    return "no VAT" if rate is None else f"{Decimal(rate).normalize():f} %"


def _lines_of(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").splitlines() if part.strip()]


def view_of(
    invoice: Invoice,
    lines: list[InvoiceLine],
    credits_number: str | None,
    signed: dict[int, list[dict[str, Any]]] | None = None,
) -> InvoiceView:
    """Everything the documents show, written out; ``signed``: the signed meter data of
    the lines' CDRs, by CDR id (printed in an appendix)."""
    zone = ZoneInfo(invoice.time_zone)

    def day(at: datetime) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d")

    def moment(at: datetime) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    cur = invoice.currency
    issuer = invoice.issuer
    issuer_lines = _lines_of(issuer.get("address"))
    for label, key in (
        ("VAT ID", "vat_id"),
        ("Company no.", "company_id"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Web", "website"),
    ):
        if issuer.get(key):
            issuer_lines.append(f"{label}: {issuer[key]}")
    customer = invoice.customer
    customer_lines = _lines_of(customer.get("address"))
    if customer.get("vat_id"):
        customer_lines.append(f"VAT ID: {customer['vat_id']}")
    if customer.get("email"):
        customer_lines.append(str(customer["email"]))
    credit = invoice.kind == CREDIT_NOTE
    facts = [("Credit note date" if credit else "Invoice date", day(invoice.issued_at))]
    if invoice.period_start is not None and invoice.period_end is not None:
        first = invoice.period_start.astimezone(zone)
        last = (invoice.period_end - timedelta(seconds=1)).astimezone(zone)
        facts.append(("Period", f"{first:%B %Y} ({first:%Y-%m-%d} to {last:%Y-%m-%d})"))
    if not credit:
        facts.append(("Due", day(invoice.due_at)))
    if customer.get("reference"):
        facts.append(("Your reference", str(customer["reference"])))
    facts.append(("Sessions", str(invoice.sessions)))
    facts.append(("Energy", f"{Decimal(invoice.energy_wh) / 1000:.3f} kWh"))
    shown = [
        LineView(
            position=line.position,
            description=line.description,
            session=f"session {line.session_id}" + (f", card {line.id_tag}" if line.id_tag else ""),
            when=f"{moment(line.started_at)} to {moment(line.ended_at)}",
            kwh=f"{Decimal(line.energy_wh) / 1000:.3f}",
            duration=duration_text(line.duration_s),
            vat_rate=", ".join(_rate(t["rate"]) for t in line.taxes),
            excl_vat=money(line.excl_vat, cur),
            vat=money(line.vat, cur),
            incl_vat=money(line.incl_vat, cur),
        )
        for line in lines
    ]
    payment = []
    if not credit and invoice.total_incl_vat > 0:
        payment.append(
            f"Please pay {money(invoice.total_incl_vat, cur)} by {day(invoice.due_at)}, "
            f"quoting {invoice.number}."
        )
    elif credit:
        payment.append(f"{money(-invoice.total_incl_vat, cur)} is credited to you.")
    payment += _lines_of(issuer.get("bank_details"))
    return InvoiceView(
        title="Credit note" if credit else "Invoice",
        number=invoice.number,
        credits=credits_number,
        reason=invoice.reason,
        issuer=issuer,
        issuer_lines=issuer_lines,
        customer_name=str(customer.get("name") or ""),
        customer_lines=customer_lines,
        facts=facts,
        lines=shown,
        taxes=[
            (
                _rate(t["rate"]),
                money(Decimal(t["excl_vat"]), cur),
                money(Decimal(t["vat"]), cur),
                money(Decimal(t["incl_vat"]), cur),
            )
            for t in invoice.tax_summary
        ],
        total_excl_vat=money(invoice.total_excl_vat, cur),
        total_vat=money(invoice.total_vat, cur),
        total_incl_vat=money(invoice.total_incl_vat, cur),
        payment=payment,
        footer=issuer.get("footer"),
        time_zone=invoice.time_zone,
        signed=[
            SignedView(
                position=line.position,
                session=f"session {line.session_id} at {line.station_id}",
                readings=[
                    {
                        "when": moment(datetime.fromisoformat(r["timestamp"]))
                        + (f", {r['context']}" if r.get("context") else ""),
                        "format": str(r.get("format") or ""),
                        "data": str(r.get("signed_data") or ""),
                        "public_key": str(r.get("public_key") or ""),
                        "method": " / ".join(
                            str(r[k]) for k in ("signing_method", "encoding_method") if r.get(k)
                        ),
                    }
                    for r in (signed or {}).get(line.cdr_id, [])
                ],
            )
            for line in lines
            if (signed or {}).get(line.cdr_id)
        ],
    )


# --------------------------------------------------------------------------- HTML


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(view: InvoiceView) -> str:
    """A whole page, styles included, that prints well (one document to save)."""
    return _environment().get_template("invoice.html").render(v=view, signed_note=SIGNED_NOTE)


# --------------------------------------------------------------------------- PDF


@cache
def _fonts() -> tuple[str, str]:
    """Register an embeddable TrueType font pair; their names."""
    from reportlab import rl_config
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = _FONTS
    if not (regular.exists() and bold.exists()):
        fonts = Path(rl_config.__file__).parent / "fonts"
        regular, bold = fonts / "Vera.ttf", fonts / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("InvoiceSans", str(regular)))
    pdfmetrics.registerFont(TTFont("InvoiceSans-Bold", str(bold)))
    return "InvoiceSans", "InvoiceSans-Bold"


def render_pdf(view: InvoiceView) -> bytes:
    """An A4 PDF of the invoice."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from reportlab.platypus.flowables import Flowable

    font, bold = _fonts()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    right = ParagraphStyle("right", parent=small, alignment=TA_RIGHT)
    strong = ParagraphStyle("strong", parent=body, fontName=bold)
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=14, leading=18)

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        # Paragraph reads a little markup: what we print is text, so escape it
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return Paragraph(escaped, style)

    def block(lines: list[str], style: ParagraphStyle = body) -> Paragraph:
        escaped = [s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for s in lines]
        return Paragraph("<br/>".join(escaped), style)

    grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("FONTNAME", (0, 0), (-1, 0), bold),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
        ]
    )
    story: list[Flowable] = [
        Table(
            [
                [
                    block([str(view.issuer.get("name") or "")], strong),
                    para(f"{view.title} {view.number}", title),
                ],
                [block(view.issuer_lines, small), block([f"{k}: {v}" for k, v in view.facts])],
            ],
            colWidths=[86 * mm, 90 * mm],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 8 * mm),
        block([view.customer_name], strong),
        block(view.customer_lines),
        Spacer(1, 6 * mm),
    ]
    if view.credits:
        story.append(para(f"Corrects invoice {view.credits}. Reason: {view.reason or '-'}"))
        story.append(Spacer(1, 4 * mm))
    rows: list[list[Any]] = [
        [
            "#",
            "Session",
            "When (" + view.time_zone + ")",
            "kWh",
            "Time",
            "Excl. VAT",
            "VAT",
            "Total",
        ]
    ]
    for line in view.lines:
        rows.append(
            [
                str(line.position),
                block([line.description, line.session], small),
                para(line.when, small),
                line.kwh,
                line.duration,
                line.excl_vat,
                para(f"{line.vat}\n({line.vat_rate})".replace("\n", " "), right),
                line.incl_vat,
            ]
        )
    widths = [7, 46, 32, 13, 15, 21, 21, 21]  # mm: the 176 mm between the margins
    story.append(Table(rows, colWidths=[w * mm for w in widths], style=grid, repeatRows=1))
    story.append(Spacer(1, 6 * mm))
    taxes: list[list[Any]] = [["VAT rate", "Net", "VAT", "Gross"], *map(list, view.taxes)]
    taxes.append(["Total", view.total_excl_vat, view.total_vat, view.total_incl_vat])
    tax_style = TableStyle(
        [
            *grid.getCommands(),
            ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ("FONTNAME", (0, -1), (-1, -1), bold),
            ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black),
        ]
    )
    story.append(
        Table(
            taxes, colWidths=[30 * mm, 30 * mm, 30 * mm, 30 * mm], style=tax_style, hAlign="RIGHT"
        )
    )
    story.append(Spacer(1, 8 * mm))
    if view.payment:
        story.append(block(view.payment))
    if view.footer:
        story.append(Spacer(1, 6 * mm))
        story.append(block(_lines_of(view.footer), small))
    if view.signed:
        # the data has no spaces to break at: let it break anywhere
        raw = ParagraphStyle("raw", parent=small, fontSize=6.5, leading=8, wordWrap="CJK")
        story.append(Spacer(1, 8 * mm))
        story.append(para("Signed meter data", strong))
        story.append(para(SIGNED_NOTE, small))
        for session in view.signed:
            story.append(Spacer(1, 3 * mm))
            story.append(para(f"Line {session.position}: {session.session}", strong))
            for reading in session.readings:
                story.append(para(f"{reading['when']} ({reading['format']})", small))
                story.append(para(reading["data"], raw))
                if reading["public_key"]:
                    method = f" ({reading['method']})" if reading["method"] else ""
                    story.append(para(f"Public key{method}: {reading['public_key']}", raw))
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=17 * mm,
        rightMargin=17 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{view.title} {view.number}",
        author=str(view.issuer.get("name") or ""),
    )

    def page_number(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.drawRightString(
            A4[0] - 17 * mm, 9 * mm, f"{view.title} {view.number}, page {doc.page}"
        )
        canvas.restoreState()

    document.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return out.getvalue()
