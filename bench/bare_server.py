"""A do-nothing OCPP-J 1.6 server: the ceiling chargeops is measured against.

It does what any WebSocket CSMS must do per frame (parse JSON, build and send an
answer) and nothing else: no validation, no database, no bus. Whatever chargeops
costs on top of this is the price of its own code, so the benchmark reports
chargeops as a ratio of this server measured in the same run on the same machine.

    python bench/bare_server.py --port 9100

URL shape is the same as chargeops: ws://HOST:PORT/ocpp/{station_id} (the bare
/{station_id} is accepted too).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import signal
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _answer(action: str) -> dict[str, Any]:
    """Smallest valid 1.6 payload for the actions the load generator sends."""
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": _now(), "interval": 300}
    if action == "StartTransaction":
        return {"transactionId": next(_transaction_ids), "idTagInfo": {"status": "Accepted"}}
    if action in ("Authorize", "StopTransaction"):
        return {"idTagInfo": {"status": "Accepted"}}
    if action == "Heartbeat":
        return {"currentTime": _now()}
    return {}


async def _handler(connection: ServerConnection) -> None:
    """Answer every CALL; ignore anything else, like a CSMS with no commands to send."""
    try:
        async for message in connection:
            try:
                frame = orjson.loads(message)
                if frame[0] != 2:
                    continue
                reply = orjson.dumps([3, frame[1], _answer(frame[2])])
            except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
                continue
            await connection.send(reply.decode())
    except ConnectionClosed:
        pass


def _raise_nofile_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(host: str, port: int, ping_interval: float | None) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        _handler,
        host,
        port,
        subprotocols=[Subprotocol("ocpp1.6")],
        compression=None,  # chargers do not negotiate permessage-deflate
        ping_interval=ping_interval,
        backlog=4096,  # a reconnect storm must not overflow the accept queue
    ):
        print(f"bare server listening on ws://{host}:{port}/ocpp/{{station_id}}", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--ping-interval", type=float, default=None, help="keepalive seconds (default: off)"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = parser.parse_args()
    _raise_nofile_limit()
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    runner(_serve(args.host, args.port, args.ping_interval))


if __name__ == "__main__":
    main()
