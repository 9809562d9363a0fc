"""Email goes through a real SMTP server (aiosmtpd), with TLS and AUTH as operators run them."""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from chargeops.core.errors import DeliveryFailed, InvalidInput
from chargeops.integrations.smtp import Email, SmtpConfig, build_message, send_email
from tests.conftest import free_port

SENDER = "chargeops <alerts@example.com>"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses chosen mailboxes."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, _: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 mailbox does not exist"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535


@dataclass
class Server:
    inbox: Inbox
    port: int

    def config(self, **overrides: Any) -> SmtpConfig:
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "sender": SENDER,
            "timeout_s": 5.0,
        } | overrides
        return SmtpConfig(**options)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, like a lab mail server has."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _serve(**options: Any) -> Iterator[Server]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[Server]:
    """Plain SMTP that also offers AUTH without TLS (allowed only for tests)."""
    yield from _serve(authenticator=authenticator, auth_require_tls=False)


@pytest.fixture
def smtp_starttls(server_tls: ssl.SSLContext) -> Iterator[Server]:
    """A submission server: STARTTLS required before anything, AUTH only over TLS."""
    yield from _serve(tls_context=server_tls, require_starttls=True, authenticator=authenticator)


@pytest.fixture
def smtp_implicit_tls(server_tls: ssl.SSLContext) -> Iterator[Server]:
    # aiosmtpd only counts STARTTLS as TLS for AUTH, so it must be told this socket is safe.
    yield from _serve(ssl_context=server_tls, authenticator=authenticator, auth_require_tls=False)


async def test_a_plain_email_arrives_with_date_message_id_and_extra_headers(smtp: Server) -> None:
    message = Email(
        to=("ops@example.com", "oncall@example.com"),
        subject="Station CP-1 is offline",
        text="CP-1 stopped answering at 10:02 UTC.",
        headers={"X-Chargeops-Incident": "inc_42"},
    )
    await send_email(smtp.config(), message)

    [(recipients, received)] = smtp.inbox.messages
    assert recipients == ["ops@example.com", "oncall@example.com"]
    assert received["From"] == SENDER
    assert received["To"] == "ops@example.com, oncall@example.com"
    assert received["Subject"] == "Station CP-1 is offline"
    assert received["X-Chargeops-Incident"] == "inc_42"
    assert received["Date"] is not None
    assert received["Message-ID"].endswith("@example.com>")
    assert received.get_content_type() == "text/plain"
    assert received.get_content().strip() == "CP-1 stopped answering at 10:02 UTC."


async def test_html_is_sent_as_an_alternative_to_the_text(smtp: Server) -> None:
    message = Email(
        to=("ops@example.com",), subject="Fault", text="plain body", html="<p>rich body</p>"
    )
    await send_email(smtp.config(), message)

    [(_, received)] = smtp.inbox.messages
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "plain body"
    assert html.get_content().strip() == "<p>rich body</p>"


async def test_a_utf8_subject_and_body_survive_the_trip(smtp: Server) -> None:
    subject = "Ladesäule „Köln Süd“ gestört ⚡"
    await send_email(smtp.config(), Email(to=("ops@example.com",), subject=subject, text="Grüße"))

    [(_, received)] = smtp.inbox.messages
    assert received["Subject"] == subject
    assert received.get_content().strip() == "Grüße"


def test_a_line_break_cannot_inject_headers_through_the_subject() -> None:
    config = SmtpConfig(host="mail.example.com", sender=SENDER)
    message = build_message(
        config, Email(to=("a@example.com",), subject="CP-1\r\nBcc: x@evil.example", text="t")
    )
    assert message["Subject"] == "CP-1 Bcc: x@evil.example"
    assert message["Bcc"] is None
    with pytest.raises(InvalidInput):
        build_message(config, Email(to=(), subject="s", text="t"))


async def test_good_credentials_are_accepted(smtp: Server) -> None:
    await send_email(
        smtp.config(username="alerts", password="s3cret"),
        Email(to=("ops@example.com",), subject="s", text="t"),
    )
    assert len(smtp.inbox.messages) == 1


async def test_bad_credentials_fail_for_good(smtp: Server) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send_email(
            smtp.config(username="alerts", password="wrong"),
            Email(to=("ops@example.com",), subject="s", text="t"),
        )
    assert failed.value.retryable is False
    assert f"127.0.0.1:{smtp.port} refused the login: 535" in failed.value.detail
    assert smtp.inbox.messages == []


async def test_starttls_with_a_self_signed_certificate_when_verification_is_off(
    smtp_starttls: Server,
) -> None:
    config = smtp_starttls.config(
        security="starttls", verify_certificates=False, username="alerts", password="s3cret"
    )
    await send_email(config, Email(to=("ops@example.com",), subject="s", text="t"))
    assert len(smtp_starttls.inbox.messages) == 1


async def test_implicit_tls_with_a_self_signed_certificate_when_verification_is_off(
    smtp_implicit_tls: Server,
) -> None:
    config = smtp_implicit_tls.config(
        security="tls", verify_certificates=False, username="alerts", password="s3cret"
    )
    await send_email(config, Email(to=("ops@example.com",), subject="s", text="t"))
    assert len(smtp_implicit_tls.inbox.messages) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_a_self_signed_certificate_is_refused_when_verification_is_on(
    security: str, request: pytest.FixtureRequest
) -> None:
    server: Server = request.getfixturevalue(
        "smtp_starttls" if security == "starttls" else "smtp_implicit_tls"
    )
    config = server.config(security=security, username="alerts", password="s3cret")
    with pytest.raises(DeliveryFailed) as failed:
        await send_email(config, Email(to=("ops@example.com",), subject="s", text="t"))
    assert failed.value.retryable is False
    assert "TLS certificate" in failed.value.detail
    assert server.inbox.messages == []


async def test_a_server_that_is_down_is_worth_retrying() -> None:
    port = free_port()
    config = SmtpConfig(host="127.0.0.1", port=port, security="none", sender=SENDER)
    with pytest.raises(DeliveryFailed) as failed:
        await send_email(config, Email(to=("ops@example.com",), subject="s", text="t"))
    assert failed.value.retryable is True
    assert f"the SMTP server 127.0.0.1:{port} could not be reached" in failed.value.detail


async def test_a_recipient_refused_with_550_is_not_retried(smtp: Server) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send_email(smtp.config(), Email(to=("nobody@example.com",), subject="s", text="t"))
    assert failed.value.retryable is False
    assert "nobody@example.com: 550 5.1.1 mailbox does not exist" in failed.value.detail


async def test_a_recipient_refused_with_450_is_retried(smtp: Server) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send_email(smtp.config(), Email(to=("busy@example.com",), subject="s", text="t"))
    assert failed.value.retryable is True


async def test_a_partly_refused_message_is_not_retried_because_others_already_got_it(
    smtp: Server,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send_email(
            smtp.config(),
            Email(to=("ops@example.com", "nobody@example.com"), subject="s", text="t"),
        )
    assert failed.value.retryable is False
    assert "took the message for ops@example.com but refused nobody@example.com: 550" in (
        failed.value.detail
    )
    [(recipients, _)] = smtp.inbox.messages
    assert recipients == ["ops@example.com"]
