"""A test aggregator: the hub's HTTP registry as docs/registry.md specifies it.

It serves ``POST /instances``, ``PUT /instances/{id}/heartbeat`` and
``DELETE /instances/{id}`` on 127.0.0.1 (free port), validates every body against
``camera_service.registration.schemas`` and checks the protocol (path id == body id,
heartbeat ``sequence`` increasing). A failure is recorded in ``violations`` and, for a
bad body, answered 400. Every call is recorded (``calls``) and announced, so a test waits
for "the next heartbeat" instead of sleeping::

    async def test_beats(aggregator: Aggregator) -> None:
        ...  # point the service at aggregator.url
        first = await aggregator.next_call("heartbeat")
        changed = await aggregator.wait_for(
            lambda c: c.kind == "heartbeat" and c.body["health"]["status"] == "degraded"
        )

Knobs: ``fail(503)`` / ``drop()`` / ``hang()`` / ``hold()`` until ``recover()``; ``forget(id)`` (the
next heartbeat of that instance gets 404); ``async with agg.stopped():`` (connection
refused inside; ``lose_state=True`` forgets every instance, like an aggregator restart
without persistence). With ``token=...`` every request must carry ``Bearer <token>``.

The fixtures ``aggregator`` and ``aggregator_factory`` stop what they started and fail the
test on any violation; a test provoking violations on purpose takes them with
``take_violations()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
import pytest_asyncio
from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from camera_service.registration.schemas import SCHEMAS
from tests.support.lifecycle import StartStop

Kind = Literal["register", "heartbeat", "deregister", "other"]
Mode = Literal["serve", "fail", "drop", "hang", "hold"]

VOLATILE = ("updated_at", "health", "capacity", "cameras")
_VALIDATORS = {
    name: Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for name, schema in SCHEMAS.items()
}


def schema_errors(name: str, instance: Any) -> list[str]:
    """Every way ``instance`` breaks schema ``name`` (empty: valid), as readable lines."""
    errors = sorted(_VALIDATORS[name].iter_errors(instance), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors]


def assert_valid(name: str, instance: Any) -> None:
    error = best_match(_VALIDATORS[name].iter_errors(instance))
    if error is not None:
        where = "/".join(map(str, error.path)) or "(root)"
        raise AssertionError(f"not a valid {name} body at {where}: {error.message}")


# A capacity report as the service builds it (recordings idle), for document tests.
CAPACITY = {
    "usb_cameras": {"limit": 8, "active": 1, "free": 7},
    "streams": {"limit": 16, "active": 2, "free": 14},
    "recordings": {"limit": 8, "active": 0, "free": 8},
    "snapshots": {"limit": 4, "active": 0, "free": 4},
    "connections": {"limit": 1000, "active": 3, "free": 997},
}


def example_document(instance_id: str = "hub-7-8002", **changes: Any) -> dict[str, Any]:
    """A registration document as docs/registry.md shows it; ``changes`` replace keys."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "instance_id": instance_id,
        "service": "camera-service",
        "version": "0.5.0",
        "started_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:05Z",
        "endpoints": {
            "ws": "ws://hub-7:8002/ws",
            "http": "http://hub-7:8003",
            "rtsp": "rtsp://hub-7:8554",
            "webrtc": "http://hub-7:8889",
            "hls": "http://hub-7:8888",
        },
        "capabilities": {
            "methods": ["authenticate", "get_camera_list", "ping", "take_snapshot"],
            "features": ["json_rpc_2.0", "websocket", "recordings", "snapshots"],
            "formats": {"recording": ["mp4", "ts"], "snapshot": ["jpg", "png"]},
            "source_types": ["rtsp", "test", "usb"],
        },
        "cameras": {
            "total": 3,
            "connected": 2,
            "recording": 1,
            "by_type": {"usb": 1, "rtsp": 1, "test": 1},
        },
        "capacity": {
            "usb_cameras": {"limit": 8, "active": 1, "free": 7},
            "streams": {"limit": 16, "active": 2, "free": 14},
            "recordings": {"limit": 8, "active": 1, "free": 7},
            "snapshots": {"limit": 4, "active": 0, "free": 4},
            "connections": {"limit": 1000, "active": 5, "free": 995},
        },
        "health": {
            "status": "healthy",
            "components": {"websocket_server": "healthy", "registry": "healthy"},
        },
    }
    document.update(changes)
    return document


@dataclass(frozen=True, slots=True)
class Call:
    kind: Kind
    method: str
    path: str
    instance_id: str | None
    body: Any  # parsed JSON, or None without a body (or an unparsable one)
    authorization: str | None
    status: int  # what was answered; 0 when the connection was dropped or left hanging
    at: float  # loop time of arrival

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Aggregator(StartStop):
    def __init__(self, *, token: str | None = None, prefix: str = "/registry/v1") -> None:
        self.token = token
        self.prefix = prefix.rstrip("/")
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.instances: dict[str, dict[str, Any]] = {}  # id -> document, heartbeats applied
        self.sequences: dict[str, int] = {}  # id -> last applied heartbeat sequence
        self._mode: Mode = "serve"
        self._fail_status = 503
        self._remaining: int | None = None  # calls left in the current mode; None: no end
        self._released = asyncio.Event()
        self.holding = asyncio.Event()
        self._announce = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the aggregator was never started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL to configure as ``registry.url``."""
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, port: int | None = None) -> None:
        if self._runner is not None:
            raise RuntimeError("already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port if port is not None else (self._port or 0))
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._released.set()  # hanging handlers end; their clients see the disconnect
        await runner.cleanup()
        self._released = asyncio.Event()

    @contextlib.asynccontextmanager
    async def stopped(self, *, lose_state: bool = False) -> AsyncIterator[None]:
        """Connection refused inside the block; serving on the same port afterwards."""
        port = self.port
        await self.stop()
        if lose_state:
            self.instances.clear()
            self.sequences.clear()
        try:
            yield
        finally:
            await self.start(port)

    # -- knobs ---------------------------------------------------------------------------

    def fail(self, status: int = 503, n: int | None = None) -> None:
        """Answer the next ``n`` calls (all until ``recover()``) with ``status``."""
        if not 400 <= status <= 599:
            raise ValueError("fail needs an error status")
        self._fail_status = status
        self._set_mode("fail", n)

    def drop(self, n: int | None = None) -> None:
        """Close the connection of the next ``n`` calls without answering."""
        self._set_mode("drop", n)

    def hang(self, n: int | None = None) -> None:
        """Never answer the next ``n`` calls (the client's timeout ends them)."""
        self._set_mode("hang", n)

    def hold(self, n: int | None = None) -> None:
        """Keep the next ``n`` calls waiting (``holding`` is set when one is) until
        ``recover()``, then answer them as usual: a slow but working aggregator."""
        self.holding.clear()
        self._set_mode("hold", n)

    def recover(self) -> None:
        self._set_mode("serve", None)
        self._released.set()
        self._released = asyncio.Event()

    def forget(self, instance_id: str) -> None:
        """Lose one instance, as after an expiry: its next heartbeat is answered 404."""
        self.instances.pop(instance_id, None)
        self.sequences.pop(instance_id, None)

    def take_violations(self) -> list[str]:
        taken, self.violations = self.violations, []
        return taken

    def calls_of(self, kind: Kind) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    # -- waiting -------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[Call], bool], *, since: int = 0, timeout: float = 30.0
    ) -> Call:
        """The first call at index ``since`` or later that satisfies ``predicate``."""
        try:
            async with asyncio.timeout(timeout), self._announce:
                while True:
                    for call in self.calls[since:]:
                        if predicate(call):
                            return call
                    since = len(self.calls)
                    await self._announce.wait()
        except TimeoutError:
            seen = ", ".join(f"{c.method} {c.path} -> {c.status}" for c in self.calls[-10:])
            raise AssertionError(
                f"no matching aggregator call within {timeout:g} s; last calls: {seen or 'none'}"
            ) from None

    async def next_call(self, kind: Kind, *, ok: bool = True, timeout: float = 30.0) -> Call:
        """The next call of ``kind`` from now on (answered 2xx unless ``ok=False``)."""
        return await self.wait_for(
            lambda c: c.kind == kind and (c.ok or not ok), since=len(self.calls), timeout=timeout
        )

    # -- serving -------------------------------------------------------------------------

    def _set_mode(self, mode: Mode, n: int | None) -> None:
        if n is not None and n < 1:
            raise ValueError("n must be >= 1 (or None: until recover())")
        self._mode, self._remaining = mode, n

    def _take_mode(self) -> Mode:
        mode = self._mode
        if mode != "serve" and self._remaining is not None:
            self._remaining -= 1
            if self._remaining == 0:
                self._mode, self._remaining = "serve", None
        return mode

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = asyncio.get_running_loop().time()
        kind, instance_id = self._route(request)
        raw = await request.read()
        body: Any = None
        if raw:
            with contextlib.suppress(orjson.JSONDecodeError):
                body = orjson.loads(raw)

        async def record(status: int) -> None:
            auth = request.headers.get("Authorization")
            call = Call(kind, request.method, request.path, instance_id, body, auth, status, at)
            async with self._announce:
                self.calls.append(call)
                self._announce.notify_all()

        mode = self._take_mode()
        if mode == "drop":
            await record(0)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more is written on an aborted connection
        if mode == "hang":
            await record(0)
            await self._released.wait()
            raise asyncio.CancelledError
        if mode == "hold":
            self.holding.set()
            await self._released.wait()
        if mode == "fail":
            await record(self._fail_status)
            return self._error(self._fail_status, "unavailable", "injected failure")
        response = self._answer(request, kind, instance_id, raw, body)
        await record(response.status)
        return response

    def _route(self, request: web.Request) -> tuple[Kind, str | None]:
        path = request.path
        if not path.startswith(self.prefix + "/"):
            return "other", None
        parts = path[len(self.prefix) + 1 :].split("/")
        if parts == ["instances"] and request.method == "POST":
            return "register", None
        if len(parts) == 3 and parts[0] == "instances" and parts[2] == "heartbeat":
            return ("heartbeat", parts[1]) if request.method == "PUT" else ("other", None)
        if len(parts) == 2 and parts[0] == "instances" and request.method == "DELETE":
            return "deregister", parts[1]
        return "other", None

    def _answer(
        self, request: web.Request, kind: Kind, instance_id: str | None, raw: bytes, body: Any
    ) -> web.Response:
        if kind == "other":
            self.violations.append(f"outside the protocol: {request.method} {request.path}")
            return self._error(404, "not_found", "no such endpoint")
        if self.token is not None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            return self._error(401, "unauthorized", "missing or wrong bearer token")
        if kind == "deregister":
            if raw:
                self.violations.append("DELETE with a body")
            assert instance_id is not None
            if self.instances.pop(instance_id, None) is None:
                return self._error(404, "unknown_instance", "no such instance")
            self.sequences.pop(instance_id, None)
            return web.Response(status=204)
        problem = self._check_body(request, kind, instance_id, raw, body)
        if problem is not None:
            self.violations.append(problem)
            return self._error(400, "invalid_body", problem)
        if kind == "register":
            created = body["instance_id"] not in self.instances
            self.instances[body["instance_id"]] = copy.deepcopy(body)
            self.sequences[body["instance_id"]] = 0
            location = f"{self.prefix}/instances/{body['instance_id']}"
            return web.Response(status=201 if created else 200, headers={"Location": location})
        assert instance_id is not None
        current = self.instances.get(instance_id)
        if current is None:
            return self._error(404, "unknown_instance", "register again")
        if body["sequence"] <= self.sequences[instance_id]:
            # An aggregator ignores a late duplicate; the service should never send one.
            self.violations.append(
                f"heartbeat sequence {body['sequence']} after {self.sequences[instance_id]}"
            )
            return web.Response(status=204)
        self.sequences[instance_id] = body["sequence"]
        for key in VOLATILE:
            current[key] = copy.deepcopy(body[key])
        return web.Response(status=204)

    def _check_body(
        self, request: web.Request, kind: Kind, instance_id: str | None, raw: bytes, body: Any
    ) -> str | None:
        what = f"{request.method} {request.path}"
        if request.content_type != "application/json":
            return f"{what}: Content-Type {request.content_type!r}, not application/json"
        if body is None:
            return f"{what}: the body is not JSON"
        errors = schema_errors("registration" if kind == "register" else "heartbeat", body)
        if errors:
            return f"{what}: not a valid {kind} body: " + "; ".join(errors[:5])
        if instance_id is not None and body["instance_id"] != instance_id:
            return f"{what}: body instance_id {body['instance_id']!r} is not the path's"
        return None

    def _error(self, status: int, code: str, message: str) -> web.Response:
        body = {"error": {"code": code, "message": message}}
        assert not schema_errors("error", body), "the test aggregator broke its own schema"
        return web.json_response(body, status=status)


# -- fixtures ---------------------------------------------------------------------------


def assert_no_violations(aggregator: Aggregator) -> None:
    if aggregator.violations:
        lines = "\n".join(f"  - {v}" for v in aggregator.violations)
        raise AssertionError(f"registry protocol violations:\n{lines}")


class AggregatorFactory(Protocol):
    def __call__(self, *, token: str | None = ...) -> Awaitable[Aggregator]: ...


@pytest_asyncio.fixture
async def aggregator_factory() -> AsyncIterator[AggregatorFactory]:
    started: list[Aggregator] = []

    async def make(*, token: str | None = None) -> Aggregator:
        agg = Aggregator(token=token)
        await agg.start()
        started.append(agg)
        return agg

    try:
        yield make
    finally:
        for agg in reversed(started):
            await agg.stop()
    for agg in started:
        assert_no_violations(agg)


@pytest_asyncio.fixture
async def aggregator(aggregator_factory: AggregatorFactory) -> Aggregator:
    return await aggregator_factory()
