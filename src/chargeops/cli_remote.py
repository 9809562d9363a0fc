"""Remote commands from the command line, through the running server's HTTP API.

The chargers' WebSocket connections live in the ``chargeops serve`` process, so another
process cannot reach them: the CLI asks the server, as any API client does. This module
is that client and the way its answers are shown; ``cli.py`` only wires options to it.
HTTP and transport errors are translated here, at the boundary, into ``core.errors``.

Exit codes: 0 the station accepted; 1 it did not (rejected, failed, timeout,
station_offline) or the request was refused; 3 no answer yet within ``--wait`` (the
command is still on its way; its record says how it ended). 2 stays what the command
line parser uses for bad usage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import typer

from chargeops.core.errors import ChargeOpsError, InvalidInput, NotFound, Unauthorized

EXIT_ACCEPTED = 0
EXIT_NOT_ACCEPTED = 1
EXIT_NO_ANSWER_YET = 3

FINAL_STATUSES = frozenset({"accepted", "rejected", "failed", "timeout", "station_offline"})
#: The API holds one request at most this long (commands/api.py); a longer --wait polls.
SERVER_MAX_WAIT_S = 60.0
POLL_INTERVAL_S = 0.3
#: Room beyond the wait for the server's own work before the HTTP read gives up.
HTTP_SLACK_S = 15.0


class ServerUnreachable(ChargeOpsError):
    """No answer from the API: the server is down, or --api-url points elsewhere."""

    status = 503
    title = "Server unreachable"


@dataclass(frozen=True, slots=True)
class Remote:
    """Where the API is, with which key, and how long to wait for a station's answer."""

    api_url: str
    api_key: str
    wait: float = 30.0
    as_json: bool = False


class ApiClient:
    """The few API routes the station commands need, synchronously (one CLI command)."""

    def __init__(self, remote: Remote, *, transport: httpx.BaseTransport | None = None) -> None:
        self.remote = remote
        self.url = remote.api_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {remote.api_key}"},
            timeout=10.0,
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        read_timeout: float | None = None,
    ) -> Any:
        timeout = httpx.Timeout(10.0, read=read_timeout) if read_timeout else 10.0
        try:
            response = self._http.request(method, path, params=params, json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"the chargeops API at {self.url} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"cannot reach the chargeops API ({exc or type(exc).__name__}): "
                f"is `chargeops serve` running at {self.url}?"
            ) from None
        if not response.is_success:
            raise _api_error(response)
        try:
            return response.json()
        except ValueError:
            raise ChargeOpsError(
                f"{self.url} did not answer as the chargeops API does: is --api-url right?"
            ) from None

    def send(self, station_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Send a command and wait up to ``remote.wait`` s for the station's answer: the
        server holds the request for up to a minute, beyond that the record is polled."""
        wait = max(self.remote.wait, 0.0)
        deadline = time.monotonic() + wait
        first = min(wait, SERVER_MAX_WAIT_S)
        record: dict[str, Any] = self.request(
            "POST",
            f"{_station(station_id)}/commands",
            params={"wait": f"{first:g}"},
            body={"name": name, "arguments": arguments},
            read_timeout=first + HTTP_SLACK_S,
        )
        while record["status"] not in FINAL_STATUSES and time.monotonic() < deadline:
            time.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0.0)))
            record = self.request("GET", f"/api/v1/commands/{record['id']}")
        return record

    def every(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """All items of a paged list."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": 500} | ({"cursor": cursor} if cursor else {})
            page = self.request("GET", path, params=query)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def report_events(self, station_id: str, after: int) -> list[dict[str, Any]]:
        """NotifyReport parts stored after event ``after`` (ids grow), newest first."""
        page = self.request(
            "GET", f"{_station(station_id)}/events", params={"kind": "NotifyReport", "limit": 100}
        )
        return [e for e in page["items"] if e["id"] > after]


def _station(station_id: str) -> str:
    return f"/api/v1/stations/{quote(station_id, safe='')}"


def _api_error(response: httpx.Response) -> ChargeOpsError:
    """The server's problem detail, as the error of our hierarchy with that meaning."""
    try:
        detail = str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        detail = response.text.strip()[:200] or response.reason_phrase
    if response.status_code == 401:
        return Unauthorized(f"{detail} (the key comes from --api-key or CHARGEOPS_API_KEY)")
    if response.status_code == 404:
        return NotFound(detail)
    if response.status_code == 422:
        return InvalidInput(detail)
    return ChargeOpsError(f"the API answered {response.status_code}: {detail}")


# --- arguments --------------------------------------------------------------------------


def parse_arguments(items: Iterable[str]) -> dict[str, Any]:
    """``--arg k=v`` pairs: a value that is valid JSON is taken as JSON (numbers, true,
    lists, objects), anything else as the text it is, so ``id_tag=04A2`` needs no quotes."""
    arguments: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--arg takes KEY=VALUE, not {item!r}")
        if key in arguments:
            raise InvalidInput(f"--arg {key} is given twice")
        try:
            arguments[key] = json.loads(text)
        except ValueError:
            arguments[key] = text
    return arguments


def parse_configuration_items(items: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """``KEY`` items to read and ``KEY=VALUE`` items to change (values stay text: that is
    what OCPP configuration values are)."""
    keys: list[str] = []
    changes: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip():
            raise InvalidInput(f"a configuration key is missing in {item!r}")
        if sep:
            changes.append((key.strip(), value))
        else:
            keys.append(key.strip())
    if keys and changes:
        raise InvalidInput("give keys to read or KEY=VALUE pairs to change, not both at once")
    return keys, changes


# --- showing outcomes -------------------------------------------------------------------


def exit_code(record: dict[str, Any]) -> int:
    if record["status"] == "accepted":
        return EXIT_ACCEPTED
    if record["status"] in FINAL_STATUSES:
        return EXIT_NOT_ACCEPTED
    return EXIT_NO_ANSWER_YET


def combined_exit_code(codes: Iterable[int]) -> int:
    """A definite no outweighs an answer still to come."""
    codes = list(codes)
    return EXIT_NOT_ACCEPTED if EXIT_NOT_ACCEPTED in codes else max(codes, default=0)


def answer_words(record: dict[str, Any]) -> str | None:
    """The station's own status word(s): what an operator recognises from the manual."""
    response = record.get("response") or {}
    if "error_code" in response:
        return f"CALLERROR {response['error_code']}"
    if "setVariableResult" in response:
        return ", ".join(str(r.get("attributeStatus")) for r in response["setVariableResult"])
    status = response.get("status")
    return str(status) if status is not None else None


def outcome_line(record: dict[str, Any], subject: str | None = None) -> str:
    """``reset CP-1: accepted (Reset → Accepted)``."""
    what = f"{record['name']} {record['station_id']}" + (f" {subject}" if subject else "")
    action, words = record.get("action"), answer_words(record)
    how = f" ({action} → {words})" if action and words else f" ({action})" if action else ""
    return f"{what}: {record['status']}{how}"


def _aligned(pairs: list[tuple[str, str]]) -> list[str]:
    width = max((len(key) for key, _ in pairs), default=0)
    return [f"{key:<{width}} = {value}" for key, value in pairs]


def _configuration_16(response: dict[str, Any]) -> list[str]:
    pairs = [
        (
            str(item.get("key")),
            (item["value"] if item.get("value") is not None else "(no value)")
            + (" (read-only)" if item.get("readonly") else ""),
        )
        for item in response.get("configurationKey") or []
    ]
    pairs += [(str(key), "(unknown key)") for key in response.get("unknownKey") or []]
    return _aligned(pairs)


def variable_key(
    component: str,
    variable: str,
    *,
    component_instance: str | None = None,
    variable_instance: str | None = None,
    evse_id: int | None = None,
    connector_id: int | None = None,
    attribute_type: str | None = None,
) -> str:
    """A 2.0.1 variable as ``config`` takes it (``Component.Variable@evse``), with any
    instances and a non-Actual attribute type shown beside."""
    key = component + (f"({component_instance})" if component_instance else "")
    key += "." + variable + (f"({variable_instance})" if variable_instance else "")
    if evse_id:
        key += f"@{evse_id}" + (f"/{connector_id}" if connector_id else "")
    if attribute_type and attribute_type != "Actual":
        key += f" [{attribute_type}]"
    return key


def _key_of_result(item: dict[str, Any]) -> str:
    component, variable = item.get("component") or {}, item.get("variable") or {}
    evse = component.get("evse") or {}
    return variable_key(
        str(component.get("name")),
        str(variable.get("name")),
        component_instance=component.get("instance"),
        variable_instance=variable.get("instance"),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        attribute_type=item.get("attributeType"),
    )


def _variables_201(results: list[dict[str, Any]]) -> list[str]:
    pairs = []
    for item in results:
        status = item.get("attributeStatus")
        if status == "Accepted":
            value = item.get("attributeValue")
            shown = str(value) if value is not None else "(no value)"
        else:
            shown = f"({status})"
        pairs.append((_key_of_result(item), shown))
    return _aligned(pairs)


def variable_lines(variables: list[dict[str, Any]]) -> list[str]:
    """The device model as stored from NotifyReport (``GET .../variables`` items)."""
    pairs = []
    for v in variables:
        value = v["value"] if v.get("value") is not None else "(no value)"
        if v.get("mutability") == "ReadOnly":
            value += " (read-only)"
        elif v.get("mutability") == "WriteOnly":
            value += " (write-only)"
        key = variable_key(
            v["component"],
            v["variable"],
            component_instance=v.get("component_instance"),
            variable_instance=v.get("variable_instance"),
            evse_id=v.get("evse_id"),
            connector_id=v.get("connector_id"),
            attribute_type=v.get("attribute_type"),
        )
        pairs.append((key, value))
    return _aligned(pairs)


_SHOWN_ELSEWHERE = frozenset(
    {"status", "configurationKey", "unknownKey", "getVariableResult", "setVariableResult"}
)


def _reason(info: dict[str, Any]) -> str:
    extra = info.get("additionalInfo")
    return f"reason: {info.get('reasonCode')}" + (f" ({extra})" if extra else "")


def data_lines(record: dict[str, Any]) -> list[str]:
    """What the station said beyond its status word, in a readable form."""
    response = record.get("response") or {}
    if record["status"] == "failed":  # the detail names the CALLERROR
        return []
    lines: list[str] = []
    if "configurationKey" in response or "unknownKey" in response:
        lines += _configuration_16(response)
    if "getVariableResult" in response:
        lines += _variables_201(response["getVariableResult"])
    for result in response.get("setVariableResult") or []:
        if result.get("attributeStatusInfo"):
            lines.append(f"{_key_of_result(result)}: {_reason(result['attributeStatusInfo'])}")
    for key, value in response.items():
        if key in _SHOWN_ELSEWHERE:
            continue
        if key == "statusInfo" and isinstance(value, dict):
            lines.append(_reason(value))
        else:
            lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    for step in record.get("progress") or []:
        lines.append(f"progress: {step.get('status')} at {step.get('at')}")
    if "RebootRequired" in (answer_words(record) or ""):
        lines.append(
            "the new value takes effect after a reboot: "
            f"chargeops station reset {record['station_id']}"
        )
    return lines


def show(record: dict[str, Any], remote: Remote, subject: str | None = None) -> int:
    """Print one command's outcome (or, with --json, only what went wrong, on stderr:
    the caller prints the record); returns its exit code."""
    if not remote.as_json:
        typer.echo(outcome_line(record, subject))
        for line in data_lines(record):
            typer.echo(f"  {line}")
    code = exit_code(record)
    if code == EXIT_NOT_ACCEPTED:
        typer.echo(f"error: {record.get('detail') or record['status']}", err=True)
    elif code == EXIT_NO_ANSWER_YET:
        url = remote.api_url.rstrip("/")
        typer.echo(
            f"no answer from {record['station_id']} within {remote.wait:g} s: command "
            f"{record['id']} is {record['status']}; look it up with "
            f"GET {url}/api/v1/commands/{record['id']}",
            err=remote.as_json,
        )
    return code


def print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


# --- the station commands ---------------------------------------------------------------


def command(client: ApiClient, station_id: str, name: str, arguments: dict[str, Any]) -> int:
    """Send one command and show how it ended."""
    record = client.send(station_id, name, arguments)
    if client.remote.as_json:
        print_json(record)
    return show(record, client.remote)


def change_configuration(client: ApiClient, station_id: str, changes: list[tuple[str, str]]) -> int:
    """One change_configuration per pair, in order, each outcome shown as it comes."""
    records, codes = [], []
    for key, value in changes:
        record = client.send(station_id, "change_configuration", {"key": key, "value": value})
        records.append(record)
        codes.append(show(record, client.remote, subject=f"{key}={value}"))
    if client.remote.as_json:
        print_json(records)
    return combined_exit_code(codes)


def read_configuration(client: ApiClient, station_id: str, keys: list[str]) -> int:
    """get_configuration. A 2.0.1 station asked for everything answers GetBaseReport with
    an acceptance and sends the values afterwards (NotifyReport): those are waited for,
    within --wait, and shown from what the server stored."""
    started = time.monotonic()
    follow = not keys and not client.remote.as_json
    # the newest report part before ours: parts stored after it answer our request
    before = client.report_events(station_id, after=-1) if follow else []
    baseline = max((e["id"] for e in before), default=0)
    record = client.send(station_id, "get_configuration", {"keys": keys} if keys else {})
    if client.remote.as_json:
        print_json(record)
    code = show(record, client.remote)
    if not follow or record.get("action") != "GetBaseReport" or code != EXIT_ACCEPTED:
        return code
    deadline = started + client.remote.wait
    typer.echo(
        "  the values come as the station's device model report (OCPP 2.0.1 NotifyReport); "
        f"waiting up to {max(deadline - time.monotonic(), 0):.0f} s"
    )
    request_id = (record.get("payload") or {}).get("requestId")
    complete = _wait_for_report(client, station_id, baseline, request_id, deadline)
    variables = client.every(f"{_station(station_id)}/variables")
    for line in variable_lines(variables):
        typer.echo(f"  {line}")
    if complete:
        return EXIT_ACCEPTED
    typer.echo(
        f"the report is not complete yet (shown: what is stored so far); the values keep "
        f"arriving at GET {client.url}{_station(station_id)}/variables"
    )
    return EXIT_NO_ANSWER_YET


def _wait_for_report(
    client: ApiClient, station_id: str, baseline: int, request_id: int | None, deadline: float
) -> bool:
    """True once the last part (``tbc`` false) of our report is in: one stored after
    ``baseline``, and with our request id where the record shows it (``payload``)."""
    while True:
        for part in client.report_events(station_id, after=baseline):
            payload = part.get("payload") or {}
            if request_id is not None and payload.get("request_id") != request_id:
                continue
            if not payload.get("tbc"):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0.0)))
