"""A real HTTP server for integration tests: uvicorn on a free port in the test's loop,
answering from a script and recording every request it gets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from chargeops.integrations.webhook import verify


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None: the receiver has no secret to check with


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Receiver:
    """Answers requests with ``script`` in order (the last answer repeats). With a
    ``secret`` it checks webhook signatures the way integrators are told to, and answers
    401 to a request that fails."""

    script: list[Answer] = field(default_factory=lambda: [Answer()])
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        request = Request(scope, receive)
        headers, body = dict(request.headers), await request.body()
        signature_ok = None
        if self.secret is not None:
            signature_ok = verify(
                self.secret,
                headers.get("x-chargeops-timestamp", ""),
                body,
                headers.get("x-chargeops-signature", ""),
                now=time.time(),
            )
        self.received.append(
            Received(request.method, request.url.path, headers, body, signature_ok)
        )
        answer = self.script[min(len(self.received), len(self.script)) - 1]
        if signature_ok is False:
            answer = Answer(401, "bad signature")
        await asyncio.sleep(answer.delay_s)
        await Response(answer.body, answer.status, answer.headers)(scope, receive, send)


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    """Run ``receiver`` until the block ends; its ``url`` is set while it runs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the kernel picks the port: no race with other tests
    port = sock.getsockname()[1]
    config = uvicorn.Config(receiver, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        receiver.url = f"http://127.0.0.1:{port}/hook"
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
