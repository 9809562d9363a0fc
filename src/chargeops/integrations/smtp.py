"""Send one email through an SMTP server and say, in an operator's words, why it failed.

Every failure becomes :class:`~chargeops.core.errors.DeliveryFailed`. ``retryable`` follows
the SMTP reply classes: a 4xx reply, a refused connection, a timeout or a dropped
connection may pass later; a 5xx reply (a login refused, an address that does not
exist), a certificate that does not verify or a server without STARTTLS will not, so the
caller stops and shows the detail to the operator instead.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal

import aiosmtplib

from chargeops.core.clock import utcnow
from chargeops.core.errors import DeliveryFailed, InvalidInput

_Step = Literal["connect", "login", "send"]
_REFUSED: dict[_Step, str] = {
    "connect": "refused the connection",
    "login": "refused the login",
    "send": "did not accept the message",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """Where and how to submit mail.

    ``security`` is ``"starttls"`` for the submission port 587, ``"tls"`` for implicit
    TLS (usually port 465) and ``"none"`` only for a relay on a trusted network.
    ``verify_certificates=False`` is for a lab server with a self-signed certificate:
    it gives up knowing who receives the password. ``timeout_s`` bounds each network
    step (connect, each command), not the whole conversation.
    """

    host: str
    port: int = 587
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str
    timeout_s: float = 15.0
    verify_certificates: bool = True


@dataclass(frozen=True, slots=True)
class Email:
    """One message to one or more recipients; ``html`` adds a rich alternative to
    ``text`` (mail clients that cannot show HTML still show the text), ``headers`` are
    extra headers such as ``X-Chargeops-Incident`` so mail rules can sort alerts."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def build_message(config: SmtpConfig, email: Email) -> EmailMessage:
    """The message exactly as it goes on the wire (useful for previews and tests).

    The Message-ID domain comes from the sender address rather than the local host
    name: looking up our own FQDN can stall for seconds on a host without DNS, and the
    sender's domain is what receivers expect anyway.
    """
    if not email.to:
        raise InvalidInput("an email needs at least one recipient")
    message = EmailMessage()
    try:
        message["From"] = config.sender
        message["To"] = ", ".join(email.to)
        # A subject is one line: a line break from a station name must not end it.
        message["Subject"] = " ".join(email.subject.split())
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = make_msgid(domain=_domain_of(config.sender))
        for name, value in email.headers.items():
            del message[name]
            message[name] = value
    except ValueError as exc:  # a header with a line break or an unparsable address
        raise InvalidInput(f"cannot build the email: {exc}") from exc
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


async def send_email(config: SmtpConfig, email: Email) -> None:
    """Submit ``email``; raise :class:`DeliveryFailed` unless every recipient was taken.

    When the server takes some recipients and refuses others the message has already
    gone to the first ones, so the failure is not retryable (sending again would
    duplicate it); the detail names who did not get it.
    """
    message = build_message(config, email)
    where = f"the SMTP server {config.host}:{config.port}"
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=config.security == "tls",
        start_tls=config.security == "starttls",
        validate_certs=config.verify_certificates,
        timeout=config.timeout_s,
    )
    step: _Step = "connect"
    try:
        await client.connect()
        try:
            if config.username is not None:
                step = "login"
                await client.login(config.username, config.password or "")
            step = "send"
            refused, _ = await client.send_message(message)
        finally:
            client.close()
    except Exception as exc:
        raise _failure(where, step, exc) from exc
    if refused:
        taken = ", ".join(a for a in email.to if parseaddr(a)[1] not in refused) or "nobody"
        replies = "; ".join(f"{a}: {r.code} {r.message}" for a, r in refused.items())
        raise DeliveryFailed(
            f"{where} took the message for {taken} but refused {replies}", retryable=False
        )


def _failure(where: str, step: _Step, exc: Exception) -> DeliveryFailed:
    """Translate an aiosmtplib (or ssl/socket) error into what an operator can act on."""
    tls = _tls_error(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        detail = f"{where} presented a TLS certificate we do not trust ({tls.verify_message})"
        return DeliveryFailed(detail, retryable=False)
    if tls is not None:
        return DeliveryFailed(f"{where}: the TLS handshake failed ({tls})", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        replies = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        temporary = all(_is_temporary(r.code) for r in exc.recipients)
        return DeliveryFailed(f"{where} refused every recipient: {replies}", retryable=temporary)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryFailed(
            f"{where} {_REFUSED[step]}: {exc.code} {exc.message}",
            retryable=_is_temporary(exc.code),
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return DeliveryFailed(f"{where} did not answer within the timeout ({exc})", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPConnectError | OSError) and step == "connect":
        return DeliveryFailed(
            f"{where} could not be reached: {exc.__cause__ or exc}", retryable=True
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | OSError):
        return DeliveryFailed(f"{where} dropped the connection ({step}): {exc}", retryable=True)
    # No STARTTLS, no usable AUTH mechanism, SMTPUTF8 needed: the server's configuration
    # does not match ours, and waiting will not change it.
    return DeliveryFailed(f"{where} {_REFUSED[step]}: {exc}", retryable=False)


def _is_temporary(code: int) -> bool:
    return 400 <= code < 500


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """aiosmtplib raises TLS failures raw on STARTTLS and wrapped on implicit TLS."""
    seen: BaseException | None = exc
    for _ in range(5):  # the chain is short; a bound keeps a cyclic one harmless
        if seen is None or isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _domain_of(sender: str) -> str:
    _, address = parseaddr(sender)
    return address.rpartition("@")[2] or "chargeops.invalid"
