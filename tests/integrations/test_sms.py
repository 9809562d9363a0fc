"""SMS reach a real HTTP gateway in the shape its configuration describes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from chargeops.core.errors import InvalidInput
from chargeops.integrations.sms import SmsGatewayConfig, send_sms
from tests.integrations.http_receiver import Answer, Receiver, serving


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_a_json_gateway_gets_the_fields_and_the_authorization(
    client: httpx.AsyncClient,
) -> None:
    async with serving(Receiver()) as gateway:
        config = SmsGatewayConfig(
            url=gateway.url,
            sender="ChargeOps",
            extra={"account": "acc_9"},
            authorization="Bearer sms-token",
        )
        attempt = await send_sms(client, config, to="+4917012345678", text="CP-1 offline")

    assert attempt.ok and attempt.status_code == 200
    [got] = gateway.received
    assert got.headers["authorization"] == "Bearer sms-token"
    assert got.headers["content-type"] == "application/json"
    assert orjson.loads(got.body) == {
        "account": "acc_9",
        "to": "+4917012345678",
        "text": "CP-1 offline",
        "from": "ChargeOps",
    }


async def test_a_form_gateway_gets_its_own_field_names(client: httpx.AsyncClient) -> None:
    async with serving(Receiver()) as gateway:
        config = SmsGatewayConfig(
            url=gateway.url,
            format="form",
            to_field="To",
            text_field="Body",
            sender_field="From",
            sender="+15550001111",
            authorization="Basic QUM6c2VjcmV0",
        )
        attempt = await send_sms(client, config, to="+15551234567", text="Ladepunkt gestört & aus")

    assert attempt.ok
    [got] = gateway.received
    assert got.headers["authorization"] == "Basic QUM6c2VjcmV0"
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(got.body.decode()) == {
        "To": ["+15551234567"],
        "Body": ["Ladepunkt gestört & aus"],
        "From": ["+15550001111"],
    }


async def test_no_sender_field_is_sent_when_there_is_no_sender(
    client: httpx.AsyncClient,
) -> None:
    async with serving(Receiver()) as gateway:
        await send_sms(client, SmsGatewayConfig(url=gateway.url), to="+4917012345678", text="x")
    [got] = gateway.received
    assert orjson.loads(got.body) == {"to": "+4917012345678", "text": "x"}
    assert "authorization" not in got.headers


async def test_a_long_text_is_cut_to_the_limit(client: httpx.AsyncClient) -> None:
    async with serving(Receiver()) as gateway:
        config = SmsGatewayConfig(url=gateway.url, max_length=20)
        await send_sms(client, config, to="+4917012345678", text="a" * 50)
    text = orjson.loads(gateway.received[0].body)["text"]
    assert text == "a" * 19 + "…"


async def test_a_gateway_answering_503_is_worth_retrying(client: httpx.AsyncClient) -> None:
    script = [Answer(503, "maintenance", {"Retry-After": "60"})]
    async with serving(Receiver(script)) as gateway:
        attempt = await send_sms(
            client, SmsGatewayConfig(url=gateway.url), to="+4917012345678", text="x"
        )
    assert (attempt.status_code, attempt.ok, attempt.retryable) == (503, False, True)
    assert attempt.retry_after_s == 60.0
    assert attempt.error == "HTTP 503 Service Unavailable: maintenance"


async def test_a_gateway_refusing_the_request_is_final(client: httpx.AsyncClient) -> None:
    async with serving(Receiver([Answer(401, "bad token")])) as gateway:
        attempt = await send_sms(
            client, SmsGatewayConfig(url=gateway.url), to="+4917012345678", text="x"
        )
    assert (attempt.status_code, attempt.ok, attempt.retryable) == (401, False, False)


@pytest.mark.parametrize(
    "number", ["017012345678", "+49 170 1234567", "+0123456789", "+1234567", "+1234567890123456"]
)
async def test_a_number_not_in_e164_form_is_refused_without_sending(
    client: httpx.AsyncClient, number: str
) -> None:
    async with serving(Receiver()) as gateway:
        with pytest.raises(InvalidInput, match=r"E\.164"):
            await send_sms(client, SmsGatewayConfig(url=gateway.url), to=number, text="x")
    assert gateway.received == []
