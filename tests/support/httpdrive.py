"""A fake world for one HTTP connection (net.httpserver.HttpProtocol): a transport that
records what is written, routes that echo the request, a WebSocket side that keeps what
it is given; and a reader of the answers that checks what holds for any input. Used by
the property tests and the fuzz harness."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from camera_service.net.httpserver import (
    REASONS,
    HttpProtocol,
    HttpRequest,
    HttpServer,
    Response,
    Router,
    json_response,
)
from camera_service.net.wsframes import HandshakeError, accept_upgrade


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.paused = False
        self.late_writes = 0  # writes after close: a real transport would drop them
        self.protocol: asyncio.BaseProtocol | None = None  # set on an upgrade

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            self.late_writes += 1
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class Sink(asyncio.Protocol):
    """The WebSocket side after an upgrade: keeps what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.data += data


class Upgrader:
    def __init__(self) -> None:
        self.sink: Sink | None = None

    def upgrade(self, request: HttpRequest, transport: asyncio.Transport) -> Sink | Response:
        try:
            handshake = accept_upgrade(request.method.encode(), request.headers)
        except HandshakeError as exc:
            return json_response({"error": str(exc)}, exc.status)
        transport.write(handshake)
        self.sink = Sink()
        return self.sink


async def echo(request: HttpRequest) -> Response:
    return json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": {
                k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.items()
            },
            "body": request.body.decode("latin-1"),
        }
    )


async def files(request: HttpRequest) -> Response:
    return Response(200, request.path.encode(), "text/plain")


ECHO_METHODS = ("GET", "HEAD", "POST")


def make_router() -> Router:
    router = Router()
    router.add("/echo", echo, ECHO_METHODS)
    router.add_prefix("/files/", files)
    router.upgrade_paths.add("/ws")
    return router


@dataclass
class Outcome:
    writes: list[bytes]
    closed: bool
    upgraded: bytes | None  # what the WebSocket side was given, if there was an upgrade
    timer_armed: bool
    errors: list[str] = field(default_factory=list)  # exceptions that escaped


async def _settle(protocol: HttpProtocol) -> None:
    """Let the connection's task answer what it holds (handlers here never block)."""
    for _ in range(10_000):
        task = protocol._task
        if task is None or task.done():
            return
        await asyncio.sleep(0)
    raise AssertionError("the connection never finished answering")


async def _drive(pieces: list[bytes], pauses: list[bool]) -> Outcome:
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(str(ctx.get("exception"))))
    upgrader = Upgrader()
    protocol = HttpProtocol(HttpServer(make_router(), upgrader))
    transport = FakeTransport()
    protocol.connection_made(transport)
    for piece, pause in zip(pieces, pauses, strict=True):
        if transport.paused:  # a real transport delivers nothing until resumed
            await _settle(protocol)
            assert not transport.paused or transport.closed, "reading stays paused"
        if transport.closed:
            break
        # After an upgrade the transport hands its bytes to the new protocol.
        switched = transport.protocol
        receiver = switched if isinstance(switched, asyncio.Protocol) else protocol
        try:
            receiver.data_received(piece)
        except Exception as exc:  # the property under test: nothing escapes
            errors.append(repr(exc))
            break
        if pause:
            await _settle(protocol)
    await _settle(protocol)
    task = protocol._task
    if task is not None and task.done() and task.exception() is not None:
        errors.append(repr(task.exception()))
    armed = protocol._timer is not None
    sink = upgrader.sink
    protocol.connection_lost(None)
    assert transport.late_writes == 0
    upgraded = None if sink is None else bytes(sink.data)
    return Outcome(transport.writes, transport.closed, upgraded, armed, errors)


def drive(pieces: list[bytes], pauses: list[bool] | None = None) -> Outcome:
    return asyncio.run(_drive(pieces, pauses or [False] * len(pieces)))


# --- reading the answers --------------------------------------------------------------------

_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ([^\r\n]*)")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def read_answer(write: bytes, head_request: bool = False) -> Answer:
    """One write of the connection is one whole response: check its form."""
    head, sep, body = write.partition(b"\r\n\r\n")
    assert sep, write[:200]
    lines = head.split(b"\r\n")
    m = _STATUS.fullmatch(lines[0])
    assert m is not None, lines[0]
    status = int(m[1])
    assert status in REASONS or status == 101
    if status != 101:
        assert m[2].decode() == REASONS[status]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.decode("latin-1").partition(": ")
        assert colon and name not in headers
        headers[name.lower()] = value
    if status == 101:
        assert body == b""
    elif status != 304:
        length = int(headers["content-length"])
        assert len(body) == (0 if head_request else length)
    return Answer(status, headers, body)


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def final_writes(out: Outcome) -> list[bytes]:
    """The writes but the interim 100s, which depend on timing: one is sent only when no
    answer is owed at the moment the request's head is read."""
    return [w for w in out.writes if w != CONTINUE]


def check_outcome(out: Outcome) -> list[Answer]:
    """What holds for any input: nothing escaped, every write is a well-formed response
    (or an interim 100), an error answer is the last one and closes, and a connection
    left open waits for the rest of a request with its timer running (so it cannot hang
    forever)."""
    assert out.errors == []
    answers = []
    for w in final_writes(out):
        head, _, body = w.partition(b"\r\n\r\n")
        declared = re.search(rb"\r\nContent-Length: (\d+)", head)
        # A HEAD answer declares the length of a body it does not carry.
        headless = declared is not None and int(declared[1]) != len(body) and body == b""
        answers.append(read_answer(w, head_request=headless))
    for i, answer in enumerate(answers):
        if answer.status in (400, 413, 417, 431) and answer.headers.get("connection") == "close":
            assert i == len(answers) - 1 and out.closed
    if out.upgraded is None and not out.closed:
        assert out.timer_armed
    return answers
