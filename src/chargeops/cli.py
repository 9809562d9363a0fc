"""The ``chargeops`` command: run the server, the demo, the simulator, and administer.

Every error a user can cause ends as one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from chargeops import __version__, simulator
from chargeops import cli_remote as remote
from chargeops.billing import accounts as billing_accounts
from chargeops.billing import invoices
from chargeops.billing import service as tariffs
from chargeops.billing.models import Invoice
from chargeops.config import Settings
from chargeops.core import collector, logs
from chargeops.core.access import Role, parse_roles
from chargeops.core.clock import parse_timestamp
from chargeops.core.commands import CommandName
from chargeops.core.errors import ChargeOpsError, Conflict, NotFound
from chargeops.database import open_database
from chargeops.simulator import MIXED, SUPPORTED_OCPP_VERSIONS
from chargeops.stations import service as stations_service
from chargeops.stations import sites
from chargeops.stations.passwords import MIN_RECOMMENDED_LENGTH
from chargeops.users import accounts, tokens
from chargeops.users import service as users

if TYPE_CHECKING:
    from chargeops.app import Application

T = TypeVar("T")

app = typer.Typer(
    help="chargeops: an EV charging network management system (OCPP 1.6J, 2.0.1, 2.1).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
station_app = typer.Typer(
    help="Register stations, and send them commands (reset, unlock, configuration...).",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="Id tokens (RFID cards, app tokens) that may charge.", no_args_is_help=True
)
apikey_app = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
billing_app = typer.Typer(
    help="Invoicing: the operator's details and the monthly run.", no_args_is_help=True
)
user_app = typer.Typer(
    help="People who log in: staff, fleet managers, drivers.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(station_app, name="station")
app.add_typer(token_app, name="token")
app.add_typer(apikey_app, name="apikey")
app.add_typer(user_app, name="user")
app.add_typer(billing_app, name="billing")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"CHARGEOPS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise fail(f"invalid configuration: {problems}") from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when available, turning our errors into messages."""
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(coro)
        result: T = uvloop.run(coro)
        return result
    except ChargeOpsError as exc:
        raise fail(exc.detail) from None


async def _with_db(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine, sessions = await open_database(settings().database_url)
    try:
        async with sessions() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await engine.dispose()


# --- running ----------------------------------------------------------------------------


def _application(s: Settings) -> Application:
    """The server, imported only by the commands that serve: its console and API take
    seconds to import, which every other command would pay."""
    from chargeops.app import Application

    return Application(s)


async def _serve_until_stopped(
    application: Application,
    alongside: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Run until Ctrl-C or SIGTERM. ``alongside`` (the demo fleet) gets the stop event
    and is waited for, so it can end its sessions before the server goes away."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await application.start()
    collector.tune_for_server()
    extra = asyncio.create_task(alongside(stop)) if alongside is not None else None
    log = logging.getLogger("chargeops")
    try:
        await stop.wait()
    finally:
        if extra is not None:
            try:
                await asyncio.wait_for(extra, 15)
            except Exception:
                log.warning("the simulated fleet did not stop in time")
        log.info("stopping: closing connections, committing data")
        await application.stop()
        log.info("stopped")


@app.command()
def serve() -> None:
    """Run the OCPP gateway and the HTTP API (configured by CHARGEOPS_* variables)."""
    s = settings()
    logs.configure(s.log_level, s.log_format)
    run(_serve_until_stopped(_application(s)))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


#: What ``--ocpp`` accepts, and how the help describes it.
_OCPP_CHOICES = (*SUPPORTED_OCPP_VERSIONS, MIXED)
_OCPP_HELP = (
    f"OCPP version the chargers speak: {', '.join(SUPPORTED_OCPP_VERSIONS)}, or {MIXED} "
    f"(stations take turns: {', '.join((*SUPPORTED_OCPP_VERSIONS, SUPPORTED_OCPP_VERSIONS[0]))}"
    ", ...)"
)


def _check_ocpp(ocpp: str) -> None:
    if ocpp not in _OCPP_CHOICES:
        raise fail(f"--ocpp must be one of {', '.join(_OCPP_CHOICES)}")


def _describe_ocpp(ocpp: str) -> str:
    if ocpp == MIXED:
        return f"OCPP {' and '.join(SUPPORTED_OCPP_VERSIONS)} (mixed)"
    return f"OCPP {ocpp}"


async def _run_fleet_until_stopped(config: simulator.FleetConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await simulator.run_fleet(config, stop)


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="the central system's OCPP URL, without station id")] = (
        "ws://127.0.0.1:9000/ocpp"
    ),
    stations: Annotated[int, typer.Option(min=1, max=5000, help="how many chargers")] = 10,
    prefix: Annotated[str, typer.Option(help="station ids are PREFIX-0001...")] = "SIM",
    password: Annotated[str | None, typer.Option(help="HTTP Basic password for all")] = None,
    ocpp: Annotated[str, typer.Option(help=_OCPP_HELP)] = "1.6",
    meter_interval: Annotated[float, typer.Option(min=0.1, help="seconds between samples")] = 5.0,
    seed: Annotated[int | None, typer.Option(help="make the fleet reproducible")] = None,
) -> None:
    """Run simulated chargers (OCPP 1.6J, 2.0.1 or both) against a central system until Ctrl-C."""
    _check_ocpp(ocpp)
    logs.configure("INFO", "auto")
    try:
        config = simulator.FleetConfig(
            url=url.rstrip("/"),
            stations=stations,
            id_prefix=prefix,
            password=password,
            ocpp_version=ocpp,
            meter_interval_s=meter_interval,
            seed=seed,
            validate_messages=stations <= 200,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"simulating {stations} {_describe_ocpp(ocpp)} chargers against {url} (Ctrl-C stops)"
    )
    typer.echo(f"they authorize with id tags {config.id_tags[0]}...; register them there")
    run(_run_fleet_until_stopped(config))


DEMO_SITES = (("Central Garage", "Europe/Berlin"), ("Harbour Depot", "Europe/Berlin"))
DEMO_USERS = (("operator@demo.chargeops", "operator"), ("driver@demo.chargeops", "driver"))


async def _demo_site(session: AsyncSession, name: str, zone: str) -> int:
    for found in await sites.list_sites(session, q=name, limit=20):
        if found.site.name.lower() == name.lower():
            return found.site.id
    return (await sites.create_site(session, {"name": name, "time_zone": zone})).id


DEMO_TARIFF = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": "0.42", "vat": "19", "step_size": 1}]},
        {
            # an idle fee once the car has sat 30 minutes without charging
            "price_components": [
                {"type": "PARKING_TIME", "price": "6.00", "vat": "19", "step_size": 60}
            ],
            "restrictions": {"min_duration": 1800},
        },
    ],
}


async def _demo_billing(session: AsyncSession) -> None:
    """A network price and the operator's details, unless set in an earlier demo: the
    demo's sessions get a price, a CDR and (for its driver) a receipt."""
    if await billing_accounts.get_issuer(session) is None:
        await billing_accounts.set_issuer(
            session,
            {
                "name": "Demo Charging GmbH",
                "address": "Hafenstraße 1\n20457 Hamburg\nGermany",
                "vat_id": "DE000000000",
                "email": "billing@demo.chargeops",
                "bank_details": "IBAN DE00 0000 0000 0000 0000 00",
                "time_zone": "Europe/Berlin",
            },
        )
    if not await tariffs.list_tariffs(session):
        tariff = await tariffs.create_tariff(session, "Standard", document=DEMO_TARIFF)
        await tariffs.assign(session, tariff.id, tariffs.check_target({"scope": "default"}))


async def _demo_user(session: AsyncSession, email: str, role: str, password_hash: str) -> Any:
    """The demo's user, made or given this run's password (and made active again)."""
    user = await accounts.find_user(session, email)
    if user is None:
        email, roles = accounts.check_new_user(email, [role])
        return await accounts.add_user(
            session,
            email,
            name=f"Demo {role}",
            roles=roles,
            organization_id=None,
            password_hash=password_hash,
        )
    user.password_hash, user.status, user.failed_logins, user.locked_until = (
        password_hash,
        "active",
        0,
        None,
    )
    return user


@app.command()
def demo(
    stations: Annotated[int, typer.Option(min=1, max=2000, help="simulated chargers")] = 10,
    ocpp: Annotated[str, typer.Option(help=_OCPP_HELP)] = MIXED,
) -> None:
    """Start chargeops with a fleet of simulated chargers (by default half OCPP 1.6J, half
    2.0.1), and print where to look."""
    _check_ocpp(ocpp)
    s = settings()
    logs.configure(s.log_level, s.log_format)
    logging.getLogger("chargeops.simulator").setLevel(logging.WARNING)
    fleet = simulator.FleetConfig(
        url=f"ws://127.0.0.1:{s.ocpp_port}/ocpp",
        stations=stations,
        id_prefix="DEMO",
        ocpp_version=ocpp,
        idle_between_sessions_s=(5.0, 30.0),
        validate_messages=stations <= 50,
    )

    password = secrets.token_urlsafe(9)  # the demo's logins, new every run
    password_hash = run(accounts.hash_password(password))

    async def prepare(session: AsyncSession) -> str:
        ids = simulator.station_ids(fleet.id_prefix, stations)
        site_ids = [await _demo_site(session, name, zone) for name, zone in DEMO_SITES]
        for i, station_id in enumerate(ids):
            await stations_service.register_station(session, station_id)
            station = await stations_service.require_station(session, station_id)
            if station.site_id is None:  # keep a move made in an earlier demo
                station.site_id = site_ids[i % len(site_ids)]
        driver = None
        for email, role in DEMO_USERS:
            user = await _demo_user(session, email, role, password_hash)
            driver = user.id if role == "driver" else driver
        for i, tag in enumerate(fleet.id_tags):
            token, _ = await tokens.add_token(session, tag)
            if i == 0:  # the demo driver's own card: their sessions show in the console
                token.user_id = driver
        await _demo_billing(session)
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return (await users.create_api_key(session, f"demo {stamp}")).key

    key = run(_with_db(prepare))
    host = "localhost" if s.host in ("0.0.0.0", "::") else s.host
    web = f"http://{host}:{s.http_port}"
    banner = "\n".join(
        [
            "",
            f"  chargeops demo: {stations} simulated {_describe_ocpp(ocpp)} chargers"
            f" on {s.database_url}",
            f"  Console    {web}/   log in as {DEMO_USERS[0][0]} (operator) or"
            f" {DEMO_USERS[1][0]} (driver), password {password}",
            f"  API        {web}/api/v1   (docs: {web}/docs)",
            f"  OCPP       ws://{host}:{s.ocpp_port}/ocpp/{{station_id}}",
            f"  API key    {key}",
            f"  try        curl -H 'Authorization: Bearer {key}' {web}/api/v1/sessions",
            "  Ctrl-C stops everything.",
            "",
        ]
    )

    async def fleet_after_banner(stop: asyncio.Event) -> None:
        typer.echo(banner)
        await simulator.run_fleet(fleet, stop)

    run(_serve_until_stopped(_application(s), fleet_after_banner))


# --- database ---------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from chargeops import migrations

    async def go() -> str | None:
        engine, _ = await open_database(settings().database_url)
        try:
            return await migrations.current_revision(engine)
        finally:
            await engine.dispose()

    typer.echo(f"database is at revision {run(go())}")


# --- stations ---------------------------------------------------------------------------


@station_app.command("add")
def station_add(
    station_id: Annotated[str, typer.Argument(metavar="ID", help="the station's OCPP identity")],
    password: Annotated[
        str | None,
        typer.Option(help="require HTTP Basic auth with this password (OCPP security profile 1)"),
    ] = None,
) -> None:
    """Register a station (or approve one that connected as pending)."""
    if password is not None and len(password.encode()) < MIN_RECOMMENDED_LENGTH:
        typer.echo(
            f"warning: OCPP recommends passwords of at least {MIN_RECOMMENDED_LENGTH} bytes",
            err=True,
        )

    async def go(session: AsyncSession) -> bool:
        _, created = await stations_service.register_station(session, station_id, password=password)
        return created

    created = run(_with_db(go))
    auth = "with a password (HTTP Basic)" if password else "without a password"
    typer.echo(f"station {station_id} {'registered' if created else 'updated'} {auth}")


# --- remote commands to stations -------------------------------------------------------

_REMOTE_EPILOG = (
    "The command goes through the running server's HTTP API (--api-url), the process that "
    "holds the chargers' connections. Without --api-key (or CHARGEOPS_API_KEY) a temporary "
    "API key named 'cli USER@HOST' is made in the database (CHARGEOPS_DATABASE_URL) for this "
    "one command and deleted afterwards. Exit code: 0 the station accepted; 1 it did not "
    "(rejected, failed, timeout, station_offline), or the request was refused; 3 no answer "
    "within --wait (the command id is printed, to look it up later)."
)
_WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}

ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="CHARGEOPS_API_URL",
        show_default=False,
        help="the URL of the running chargeops server (default: http://127.0.0.1:"
        "CHARGEOPS_HTTP_PORT, or CHARGEOPS_HOST when that names one address)",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="CHARGEOPS_API_KEY",
        show_default=False,
        help="an API key; without one, a temporary key is made for this command and deleted",
    ),
]
WaitOption = Annotated[
    float, typer.Option("--wait", min=0, help="seconds to wait for the station's answer")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="print the command record as the API returns it")
]
StationIdArgument = Annotated[str, typer.Argument(metavar="ID", help="the station's OCPP identity")]


def _default_api_url() -> str:
    """The server this machine runs with the same configuration (CHARGEOPS_HTTP_PORT)."""
    s = settings()
    host = _WILDCARD_HOSTS.get(s.host, s.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{s.http_port}"


def _cli_key_name() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a bare container)
        user = str(os.getuid())
    return f"cli {user}@{socket.gethostname()}"[:90]


async def _create_cli_key(session: AsyncSession) -> users.NewApiKey:
    name = _cli_key_name()
    try:
        return await users.create_api_key(session, name)
    except Conflict:  # the same user runs another command now (or one was killed)
        return await users.create_api_key(session, f"{name} #{os.getpid()}")


async def _temporary_key() -> users.NewApiKey:
    try:
        return await _with_db(_create_cli_key)
    except ChargeOpsError as exc:
        raise ChargeOpsError(
            f"no API key given (--api-key or CHARGEOPS_API_KEY), and no temporary one could "
            f"be made in the database: {exc.detail}"
        ) from None


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the temporary key is deleted


@contextlib.contextmanager
def _api_key(given: str | None) -> Iterator[str]:
    """The key given, or a temporary one: the CLI reaches the database like every admin
    command, so an operator on the server's machine needs no key to send a command."""
    if given:
        yield given
        return
    new = run(_temporary_key())
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield new.key
    finally:
        signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
        try:
            run(_with_db(lambda session: users.delete_api_key(session, new.id)))
        except Exception as exc:
            typer.echo(
                f"warning: the temporary API key {new.name!r} (id {new.id}) was not deleted"
                f" ({exc or type(exc).__name__}); it stays valid until it is deleted",
                err=True,
            )


def _remote(
    api_url: str | None,
    api_key: str | None,
    wait: float,
    as_json: bool,
    action: Callable[[remote.ApiClient], int],
) -> None:
    """Run ``action`` against the API and exit with its code."""
    target = remote.Remote(api_url or _default_api_url(), "", wait, as_json)
    with _api_key(api_key) as key, remote.ApiClient(replace(target, api_key=key)) as client:
        try:
            code = action(client)
        except ChargeOpsError as exc:
            raise fail(exc.detail) from None
    raise typer.Exit(code)


@station_app.command("reset", epilog=_REMOTE_EPILOG)
def station_reset(
    station_id: StationIdArgument,
    hard: Annotated[
        bool, typer.Option("--hard", help="reboot now (2.0.1 Immediate), not when idle")
    ] = False,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
    wait: WaitOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Reset (reboot) a station: soft by default."""
    arguments = {"type": "hard" if hard else "soft"}
    _remote(
        api_url, api_key, wait, as_json, lambda c: remote.command(c, station_id, "reset", arguments)
    )


@station_app.command("unlock", epilog=_REMOTE_EPILOG)
def station_unlock(
    station_id: StationIdArgument,
    connector: Annotated[
        int, typer.Argument(metavar="CONNECTOR", help="the connector (EVSE) number, from 1")
    ],
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
    wait: WaitOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Unlock a connector (release a stuck cable)."""
    arguments = {"evse_id": connector}
    _remote(
        api_url,
        api_key,
        wait,
        as_json,
        lambda c: remote.command(c, station_id, "unlock_connector", arguments),
    )


@station_app.command("config", epilog=_REMOTE_EPILOG)
def station_config(
    station_id: StationIdArgument,
    items: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY | KEY=VALUE]...",
            help="keys to read (none: all), or KEY=VALUE pairs to change one by one; "
            "2.0.1 keys are Component.Variable (e.g. OCPPCommCtrlr.HeartbeatInterval)",
        ),
    ] = None,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
    wait: WaitOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Read or change a station's configuration.

    Reading all of a 2.0.1 station's configuration asks for its device model report
    (GetBaseReport) and shows the values once they are in."""
    try:
        keys, changes = remote.parse_configuration_items(items or [])
    except ChargeOpsError as exc:
        raise fail(exc.detail) from None

    def action(client: remote.ApiClient) -> int:
        if changes:
            return remote.change_configuration(client, station_id, changes)
        return remote.read_configuration(client, station_id, keys)

    _remote(api_url, api_key, wait, as_json, action)


@station_app.command("command", epilog=_REMOTE_EPILOG)
def station_command(
    station_id: StationIdArgument,
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help=f"one of: {', '.join(n.value for n in CommandName)}"),
    ],
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            metavar="KEY=VALUE",
            help="an argument (repeat for more); a value that is valid JSON (60, true, "
            "[1,2], {...}) is taken as JSON, anything else as text",
        ),
    ] = None,
    api_url: ApiUrlOption = None,
    api_key: ApiKeyOption = None,
    wait: WaitOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Send any command the API knows (see the README's command table for arguments)."""
    try:
        arguments = remote.parse_arguments(arg or [])
    except ChargeOpsError as exc:
        raise fail(exc.detail) from None
    _remote(
        api_url, api_key, wait, as_json, lambda c: remote.command(c, station_id, name, arguments)
    )


# --- tokens -----------------------------------------------------------------------------


@token_app.command("add")
def token_add(
    id_tag: Annotated[str, typer.Argument(metavar="ID_TAG", help="RFID uid or app token")],
    status: Annotated[str, typer.Option(help="accepted, blocked or expired")] = "accepted",
    expires: Annotated[
        str | None,
        typer.Option(help="expiry, ISO 8601 (e.g. 2027-01-31T23:59:59Z; no offset means UTC)"),
    ] = None,
    parent: Annotated[str | None, typer.Option(help="parent id tag (group)")] = None,
    token_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="OCPP 2.0.1 token type (ISO14443, eMAID, Central, KeyCode, MacAddress...); "
            "without it the token matches whatever type a station presents it as",
        ),
    ] = None,
) -> None:
    """Register an id token, or change one already registered."""
    try:
        expires_at: datetime | None = parse_timestamp(expires) if expires else None
    except ChargeOpsError as exc:
        raise fail(f"--expires: {exc.detail}") from None

    async def go(session: AsyncSession) -> bool:
        _, created = await tokens.add_token(
            session,
            id_tag,
            status=status.lower(),
            expires_at=expires_at,
            parent_id_tag=parent,
            token_type=token_type,
        )
        return created

    created = run(_with_db(go))
    until = f", expires {expires_at.isoformat()}" if expires_at else ""
    typer.echo(f"token {id_tag} {'added' if created else 'updated'}: {status.lower()}{until}")


# --- API keys ---------------------------------------------------------------------------


def _parse_role_names(names: list[str] | str) -> frozenset[Role]:
    try:
        return parse_roles(names)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in (header, *rows):
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    user: Annotated[
        str | None,
        typer.Option(metavar="EMAIL", help="the user who owns the key (without: a key of no user)"),
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option(
            metavar="ROLE,ROLE",
            help="roles the key acts with (default: all of its user's; without --user: admin)."
            " A user's key may carry only roles the user holds",
        ),
    ] = None,
) -> None:
    """Create an API key. The key is printed once, on the last line; keep it safe."""
    wanted = _parse_role_names(roles) if roles is not None else None

    async def go(session: AsyncSession) -> tuple[users.NewApiKey, str | None]:
        owner = await accounts.require_user(session, user) if user is not None else None
        new = await users.create_api_key(
            session, name, user_id=owner.id if owner else None, roles=wanted
        )
        return new, owner.email if owner else None

    key, email = run(_with_db(go))
    whose = f"for {email}" if email else "of no user"
    typer.echo(
        f"API key {key.name!r} created (id {key.id}) {whose} with roles "
        f"{', '.join(sorted(key.roles))}. It is shown only this once;"
    )
    typer.echo("use it as 'Authorization: Bearer KEY':")
    typer.echo(key.key)


@apikey_app.command("list")
def apikey_list(
    user: Annotated[str | None, typer.Option(metavar="EMAIL", help="only this user's keys")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="revoked keys too")] = False,
) -> None:
    """List API keys, newest first (the keys themselves are never shown again)."""

    async def go(session: AsyncSession) -> list[tuple[Any, str | None]]:
        owner: int | users.Everyone = users.EVERYONE
        if user is not None:
            owner = (await accounts.require_user(session, user)).id
        return list(await users.list_api_keys(session, user_id=owner, include_revoked=show_all))

    rows = run(_with_db(go))
    if not rows:
        typer.echo("no API keys" if show_all else "no API keys (--all shows revoked ones)")
        return
    header = ["ID", "NAME", "PREFIX", "USER", "ROLES", "CREATED", "LAST USED"]
    if show_all:
        header.append("REVOKED")
    lines = []
    for key, email in rows:
        line = [
            str(key.id),
            key.name,
            key.prefix + "...",
            email or "-",
            key.roles,
            _when(key.created_at),
            _when(key.last_used_at),
        ]
        if show_all:
            line.append(_when(key.revoked_at))
        lines.append(line)
    _table(header, lines)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="the key's id (apikey list)")],
) -> None:
    """Revoke an API key: it stops working, and stays listed (--all) for the record."""

    async def go(session: AsyncSession) -> tuple[str, bool]:
        key = await users.get_api_key(session, key_id)
        was_live = key[0].revoked_at is None
        await users.revoke_api_key(session, key_id)
        return key[0].name, was_live

    name, was_live = run(_with_db(go))
    if not was_live:
        typer.echo(f"API key {key_id} {name!r} was already revoked")
        return
    typer.echo(
        f"API key {key_id} {name!r} revoked; a running server stops accepting it within 30 seconds"
    )


# --- users ------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[
        list[str],
        typer.Option(
            help=f"a role (repeat for more): {', '.join(r.value for r in Role)}",
        ),
    ],
    name: Annotated[str | None, typer.Option(help="the name people see")] = None,
    organization: Annotated[
        str | None, typer.Option(help="the organization (created if new), e.g. a fleet")
    ] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CHARGEOPS_NEW_USER_PASSWORD",
            help=f"at least {accounts.MIN_PASSWORD_LENGTH} characters (asked for when not "
            "given; or from CHARGEOPS_NEW_USER_PASSWORD)",
        ),
    ] = "",
) -> None:
    """Create a user who can log in (the first admin: --role admin)."""

    async def go(session: AsyncSession) -> int:
        user = await accounts.create_user(
            session, email, name=name, roles=role, password=password, organization=organization
        )
        return user.id

    user_id = run(_with_db(go))
    typer.echo(f"user {email} created (id {user_id}) with roles {', '.join(sorted(role))}")


@user_app.command("list")
def user_list(
    role: Annotated[str | None, typer.Option(help="only users with this role")] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled")] = None,
    organization: Annotated[str | None, typer.Option(help="only this organization's")] = None,
    search: Annotated[str | None, typer.Option(help="part of the email or name")] = None,
) -> None:
    """List users, newest first."""
    wanted = next(iter(_parse_role_names(role)), None) if role is not None else None
    if status is not None and status not in accounts.USER_STATUSES:
        raise fail(f"--status is one of {', '.join(accounts.USER_STATUSES)}")

    async def go(session: AsyncSession) -> tuple[list[Any], dict[int, str]]:
        org_id = None
        if organization is not None:
            org = await accounts.find_organization(session, organization)
            if org is None:
                raise NotFound(f"no organization named {organization!r}")
            org_id = org.id
        found = await accounts.list_users(
            session, role=wanted, status=status, organization_id=org_id, q=search
        )
        names = {o.id: o.name for o in await accounts.list_organizations(session)}
        return list(found), names

    found, organizations = run(_with_db(go))
    if not found:
        typer.echo("no users")
        return
    _table(
        ["ID", "EMAIL", "NAME", "ROLES", "STATUS", "ORGANIZATION", "LAST LOGIN"],
        [
            [
                str(u.id),
                u.email,
                u.name,
                u.roles,
                u.status,
                organizations.get(u.organization_id, "-") if u.organization_id else "-",
                _when(u.last_login_at),
            ]
            for u in found
        ],
    )


@user_app.command("set")
def user_set(
    email: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            help="the user's roles, replacing theirs (repeat for more): "
            f"{', '.join(r.value for r in Role)}"
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="active, or disabled: their logins end and their API keys stop working"),
    ] = None,
    organization: Annotated[
        str | None,
        typer.Option(help="move them to this organization (created if new); '' for none"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="the name people see")] = None,
) -> None:
    """Change a user's roles, status, organization or name. Users are not deleted (what
    they did stays attributable): disable them instead."""
    roles = _parse_role_names(role) if role is not None else None
    if role is not None and not roles:
        raise fail("--role needs a role")
    if status is not None and status not in accounts.USER_STATUSES:
        raise fail(f"--status is one of {', '.join(accounts.USER_STATUSES)}")
    if role is None and status is None and organization is None and name is None:
        raise fail("nothing to change: give --role, --status, --organization or --name")

    async def go(session: AsyncSession) -> accounts.UserUpdate:
        user = await accounts.require_user(session, email)
        org: int | accounts.Unset | None = accounts.UNSET
        if organization is not None and organization.strip():
            org = (await accounts.ensure_organization(session, organization)).id
        elif organization is not None:
            org = None  # out of their organization
        changes = accounts.UserChanges(name=name, roles=roles, status=status, organization_id=org)
        return await accounts.update_user(session, user.id, changes)

    update = run(_with_db(go))
    user = update.user
    where = ""
    if organization is not None:
        moved = organization.strip()
        where = f"; organization {moved}" if moved else "; no organization"
    typer.echo(f"user {user.email}: roles {user.roles.replace(',', ', ')}; {user.status}{where}")
    if update.ended_logins:
        typer.echo(f"{len(update.ended_logins)} login(s) ended")
    if update.changed_logins or update.changed_keys:
        typer.echo("a running server applies the change to logins and keys within 30 seconds")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()


# --- billing ----------------------------------------------------------------------------


@billing_app.command("run")
def billing_run(
    month: Annotated[
        str | None,
        typer.Option(help="the month to invoice, e.g. 2026-10; default: last month"),
    ] = None,
) -> None:
    """Issue a month's invoices to account customers (and any receipt still owed).
    Safe to run again: what was invoiced is never invoiced twice."""

    def issued(invoice: Invoice) -> None:
        typer.echo(f"  {invoices.summary_line(invoice)}")

    async def go() -> invoices.RunResult:
        engine, sessions = await open_database(settings().database_url)

        async def transact(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
            async with sessions() as session:
                result = await fn(session)
                await session.commit()
                return result

        try:
            return await invoices.run_month(transact, month, on_issued=issued)
        finally:
            await engine.dispose()

    result = run(go())
    name = f"{result.month.name} ({result.month.time_zone})"
    if not result.invoices and not result.receipts:
        typer.echo(f"{name}: nothing left to invoice; no invoice issued.")
        return
    totals = ", ".join(f"{currency} {amount}" for currency, amount in result.totals().items())
    typer.echo(
        f"{name}: issued {len(result.invoices)} invoice(s) for {result.sessions} session(s)"
        + (f", {totals} incl. VAT" if totals else "")
        + (f", and {result.receipts} receipt(s) still owed" if result.receipts else "")
        + "."
    )


@billing_app.command("issuer")
def billing_issuer(
    name: Annotated[str, typer.Option(help="the operator's legal name")],
    address: Annotated[str, typer.Option(help=r"postal address; \n or new lines separate lines")],
    vat_id: Annotated[str | None, typer.Option(help="VAT identification number")] = None,
    company_id: Annotated[str | None, typer.Option(help="trade register number")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    website: Annotated[str | None, typer.Option()] = None,
    bank: Annotated[str | None, typer.Option(help="IBAN, BIC and bank, printed to pay")] = None,
    terms: Annotated[int, typer.Option(help="days to pay a monthly invoice")] = 14,
    invoice_prefix: Annotated[str, typer.Option()] = "INV",
    credit_note_prefix: Annotated[str, typer.Option()] = "CN",
    time_zone: Annotated[str, typer.Option(help="IANA zone months are counted in")] = "UTC",
    footer: Annotated[str | None, typer.Option(help="legal text at the end")] = None,
) -> None:
    """Set the operator's legal details printed on every invoice (issued invoices keep
    the details they were issued with)."""

    def lines(text: str | None) -> str | None:
        return None if text is None else text.replace("\\n", "\n")

    values = {
        "name": name,
        "address": lines(address),
        "vat_id": vat_id,
        "company_id": company_id,
        "email": email,
        "phone": phone,
        "website": website,
        "bank_details": lines(bank),
        "payment_terms_days": terms,
        "invoice_prefix": invoice_prefix,
        "credit_note_prefix": credit_note_prefix,
        "time_zone": time_zone,
        "footer": lines(footer),
    }
    run(_with_db(lambda session: billing_accounts.set_issuer(session, values)))
    typer.echo(f"issuer set: {name}; invoices are numbered {invoice_prefix}-YYYY-NNNNNN")
