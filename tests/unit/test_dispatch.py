"""The dispatcher over data: frames in, outcomes (bytes, None, Pending) out; no sockets."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import orjson
import pytest

from camera_service.api.context import ApiContext, Components
from camera_service.api.dispatch import BATCH_SLICE, Dispatcher, Pending, limits_of
from camera_service.api.jsonrpc import Limits
from camera_service.api.methodtable import Call, MethodSpec, MethodTable, NoParams, Params
from camera_service.api.session import Session
from camera_service.auth.authenticator import Authenticator
from camera_service.auth.identity import Role
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.config import ServerConfig
from tests.conftest import SECRET, make_token

DEFAULTS = limits_of(ServerConfig())


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []
        self.events: list[str] = []

    def request_done(self, method: str, code: int, seconds: float) -> None:
        self.requests.append((method, code))

    def security_event(self, event: str, actor: str | None, **detail: Any) -> None:
        self.events.append(event)


class EchoParams(Params):
    value: int


class BlobParams(Params):
    size: int


class LoopTurns:
    """Loop turns counted by a task, and the turn each ``spin`` ran in."""

    now = 0
    spun: list[int] = []


def make(
    rpm: int = 1000, limits: Limits = DEFAULTS
) -> tuple[Dispatcher, Session, asyncio.Event, Recorder]:
    release = asyncio.Event()  # what the waiting methods wait for

    async def slow(call: Call[NoParams]) -> str:
        await asyncio.sleep(0)
        return "done"

    async def held(call: Call[NoParams]) -> str:
        await release.wait()
        return "released"

    def boom(call: Call[NoParams]) -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    def echo(call: Call[EchoParams]) -> int:
        return call.params.value

    def blob(call: Call[BlobParams]) -> str:
        return "x" * call.params.size

    def spin(call: Call[NoParams]) -> float:
        """A sync handler that holds the loop for a millisecond."""
        LoopTurns.spun.append(LoopTurns.now)
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        return end

    methods = (
        MethodSpec("ping", lambda c: "pong", "", None, NoParams, str),
        MethodSpec("echo", echo, "", Role.VIEWER, EchoParams, int),
        MethodSpec("admin_only", lambda c: "ok", "", Role.ADMIN, NoParams, str),
        MethodSpec("boom", boom, "", Role.VIEWER, NoParams, None),
        MethodSpec("slow", slow, "", Role.VIEWER, NoParams, str, concurrent=True),
        MethodSpec("held", held, "", None, NoParams, str),
        MethodSpec("held_beside", held, "", None, NoParams, str, concurrent=True),
        MethodSpec("blob", blob, "", None, BlobParams, str),
        MethodSpec("spin", spin, "", None, NoParams, float),
    )
    # No handler here uses the service's parts.
    table = MethodTable(methods, ApiContext(cast(Components, object())))
    rec = Recorder()
    d = Dispatcher(table, Authenticator(JwtAuthenticator(SECRET), None), rec, 5.0, limits=limits)
    return d, Session(rpm), release, rec


async def run(outcome: bytes | Pending | None) -> bytes | None:
    """What a transport does with an outcome: send it, or await the pending reply."""
    return await outcome.reply if isinstance(outcome, Pending) else outcome


async def rpc(d: Dispatcher, s: Session, obj: Any) -> Any:
    reply = await run(d.handle(s, orjson.dumps(obj)))
    return None if reply is None else orjson.loads(reply)


def req(method: str, params: dict[str, Any] | None = None, rid: int = 1) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
    if params is not None:
        msg["params"] = params
    return msg


async def test_unknown_method_before_auth() -> None:
    d, s, _, rec = make()
    r = await rpc(d, s, req("nope"))
    assert r["error"]["code"] == -32601
    assert rec.requests == [("unknown", -32601)]


async def test_auth_required_message() -> None:
    d, s, _, _ = make()
    r = await rpc(d, s, req("echo", {"value": 1}))
    assert r["error"]["code"] == -32001
    assert r["error"]["message"] == (
        "Authentication required for echo - call authenticate or provide auth_token"
    )


async def test_per_call_token_authenticates_the_session() -> None:
    d, s, _, _ = make()
    r = await rpc(d, s, req("echo", {"value": 7, "auth_token": make_token("viewer")}))
    assert r["result"] == 7
    assert s.identity is not None and s.identity.role is Role.VIEWER
    # the session identity wins afterwards: a bad per-call token is ignored
    r = await rpc(d, s, req("echo", {"value": 8, "auth_token": "garbage"}))
    assert r["result"] == 8


async def test_role_too_low() -> None:
    d, s, _, rec = make()
    r = await rpc(d, s, req("admin_only", {"auth_token": make_token("operator")}))
    assert r["error"]["code"] == -32003
    assert r["error"]["message"] == (
        "Insufficient permissions - admin role required for admin_only"
    )
    assert "role_denied" in rec.events


async def test_expired_session_is_refused_on_next_call() -> None:
    d, s, _, _ = make()
    now = [time.time()]
    d.clock = lambda: now[0]
    r = await rpc(d, s, req("echo", {"value": 1, "auth_token": make_token("viewer", ttl=60)}))
    assert r["result"] == 1
    now[0] += 120
    r = await rpc(d, s, req("echo", {"value": 1}))
    assert r["error"]["code"] == -32001
    assert "expired" in r["error"]["message"]
    assert s.identity is None


async def test_invalid_params_name_the_param_and_extra_params_are_ignored() -> None:
    d, s, _, _ = make()
    tok = make_token("viewer")
    r = await rpc(d, s, req("echo", {"auth_token": tok}))
    assert r["error"]["code"] == -32602
    assert "value" in r["error"]["message"]
    r = await rpc(d, s, req("echo", {"value": "abc"}))
    assert r["error"]["code"] == -32602 and "value" in r["error"]["message"]
    r = await rpc(d, s, req("echo", {"value": 3, "whatever": True}))
    assert r["result"] == 3


async def test_handler_crash_is_internal_error_with_an_error_ref(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d, s, _, _ = make()
    with caplog.at_level(logging.ERROR):
        r = await rpc(d, s, req("boom", {"auth_token": make_token("viewer")}))
    err = r["error"]
    assert err["code"] == -32603
    assert "/etc/passwd" not in err["message"] and "Traceback" not in err["message"]
    ref = err["data"]["error_ref"]
    assert err["data"]["correlation_id"] == ref  # its former name, kept for clients
    logged = [rec for rec in caplog.records if getattr(rec, "error_ref", None) == ref]
    assert logged and logged[0].exc_info is not None
    assert (await rpc(d, s, req("ping")))["result"] == "pong"


async def test_notification_gets_no_reply_but_runs() -> None:
    d, s, _, rec = make()
    assert await rpc(d, s, {"jsonrpc": "2.0", "method": "ping"}) is None
    assert rec.requests == [("ping", 0)]


async def test_batch_semantics() -> None:
    d, s, _, _ = make()
    r = await rpc(
        d,
        s,
        [req("ping", rid=1), {"jsonrpc": "2.0", "method": "ping"}, 42, req("nope", rid=3)],
    )
    assert [x.get("id") for x in r] == [1, None, 3]
    assert r[0]["result"] == "pong"
    assert r[1]["error"]["code"] == -32600
    assert r[2]["error"]["code"] == -32601
    assert await rpc(d, s, [{"jsonrpc": "2.0", "method": "ping"}]) is None
    r = await rpc(d, s, [])
    assert r["error"]["code"] == -32600


def test_a_request_that_needs_no_waiting_is_answered_at_once() -> None:
    d, s, _, _ = make()
    assert d.handle(s, orjson.dumps(req("ping"))) == b'{"jsonrpc":"2.0","result":"pong","id":1}'
    assert d.handle(s, orjson.dumps({"jsonrpc": "2.0", "method": "ping"})) is None


async def test_concurrent_method_returns_a_pending_reply_marked_concurrent() -> None:
    d, s, release, _ = make()
    s.authenticate(JwtAuthenticator(SECRET).verify(make_token("viewer")))
    outcome = d.handle(s, orjson.dumps(req("slow", rid=9)))
    assert isinstance(outcome, Pending) and outcome.concurrent
    assert orjson.loads(await run(outcome) or b"") == {"jsonrpc": "2.0", "result": "done", "id": 9}
    ordered = d.handle(s, orjson.dumps(req("held", rid=10)))
    assert isinstance(ordered, Pending) and not ordered.concurrent
    release.set()
    assert orjson.loads(await run(ordered) or b"")["result"] == "released"


async def test_concurrent_method_refused_before_waiting_is_answered_at_once() -> None:
    d, s, _, _ = make(rpm=1)
    s.authenticate(JwtAuthenticator(SECRET).verify(make_token("viewer")))
    assert d.handle(s, orjson.dumps(req("ping"))) is not None  # the minute's budget
    reply = d.handle(s, orjson.dumps(req("slow", rid=9)))
    assert isinstance(reply, bytes) and orjson.loads(reply)["error"]["code"] == -32002


async def test_batch_with_a_waiting_element_is_one_pending_reply_in_order() -> None:
    d, s, release, rec = make()
    batch = [req("ping", rid=1), req("held", rid=2), req("ping", rid=3)]
    outcome = d.handle(s, orjson.dumps(batch))
    assert isinstance(outcome, Pending) and not outcome.concurrent
    assert rec.requests == [("ping", 0)]  # the element before the waiting one has run
    release.set()
    reply = orjson.loads(await run(outcome) or b"")
    assert [(r["id"], r["result"]) for r in reply] == [(1, "pong"), (2, "released"), (3, "pong")]
    # one concurrent element, before or after the one that waits, makes it all concurrent
    for methods in (["held", "held_beside"], ["held_beside", "held"]):
        outcome = d.handle(s, orjson.dumps([req(m, rid=i) for i, m in enumerate(methods)]))
        assert isinstance(outcome, Pending) and outcome.concurrent
        assert len(orjson.loads(await run(outcome) or b"")) == 2


async def test_drain_waits_for_a_waiting_request_whoever_runs_it() -> None:
    d, s, release, _ = make()
    outcome = d.handle(s, orjson.dumps(req("held")))
    assert isinstance(outcome, Pending)
    task = asyncio.create_task(run(outcome))
    await asyncio.sleep(0)  # the transport's task has started it
    assert d.busy == 1
    draining = asyncio.create_task(d.drain(5.0))
    await asyncio.sleep(0)
    assert not draining.done()
    release.set()
    assert await draining is True
    assert orjson.loads(await task or b"")["result"] == "released"
    assert d.busy == 0


async def test_drain_cancels_what_is_still_in_flight_at_the_deadline() -> None:
    d, s, _, _ = make()
    outcomes = [
        d.handle(s, orjson.dumps(req(m, rid=i))) for i, m in enumerate(("held", "held_beside"))
    ]
    tasks = [asyncio.create_task(run(o)) for o in outcomes]
    await asyncio.sleep(0)
    assert d.busy == 2
    assert await d.drain(0.01) is False
    # Cancelled, and answered with their ids before the connections close.
    for i, task in enumerate(tasks):
        assert task.done()
        body = await task
        assert body is not None
        reply = orjson.loads(body)
        assert reply["id"] == i and reply["error"]["code"] == -32603
        assert reply["error"]["data"] == {"reason": "shutting_down"}
    assert d.busy == 0


async def test_rate_limit() -> None:
    d, s, _, _ = make(rpm=3)
    codes = [("error" in await rpc(d, s, req("ping"))) for _ in range(5)]
    assert codes == [False, False, False, True, True]
    r = await rpc(d, s, req("ping"))
    assert r["error"] == {
        "code": -32002,
        "message": "Rate limit exceeded",
        "data": {"reason": "rate_limited"},
    }


# --- what one frame may cost (issue 14, item 1) ----------------------------------------


async def test_a_batch_over_the_cap_is_refused_whole_and_nothing_in_it_runs() -> None:
    d, s, _, rec = make(limits=Limits(3, 10_000, 1 << 20))
    assert len(await rpc(d, s, [req("ping", rid=i) for i in range(3)])) == 3
    rec.requests.clear()
    r = await rpc(d, s, [req("ping", rid=i) for i in range(4)])
    assert r == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32600,
            "message": "Invalid Request: batch of 4 requests, limit 3",
            "data": {"reason": "batch_too_large", "limit": 3},
        },
        "id": None,
    }
    assert rec.requests == [("invalid", -32600)]  # one refusal, no element dispatched


async def test_the_default_cap_holds_for_the_issues_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1 MiB of ``[1,1,...]`` (524,287 invalid elements) gets one short error, and the
    frame is never handed to the JSON parser: its value count is bounded first."""
    d, s, _, rec = make()

    def no_parse(payload: str | bytes) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(orjson, "loads", no_parse)
    reply = await run(d.handle(s, "[" + ",".join(["1"] * 524_287) + "]"))
    monkeypatch.undo()
    assert reply is not None and len(reply) < 200
    error = orjson.loads(reply)["error"]
    assert error["code"] == -32600 and error["data"]["reason"] == "too_many_values"
    assert rec.requests == [("invalid", -32600)]


async def test_a_batch_just_over_the_cap_with_few_values_is_refused_after_parsing() -> None:
    d, s, _, _ = make()
    cap = DEFAULTS.batch_requests
    r = await rpc(d, s, [7] * (cap + 1))
    assert r["error"]["data"] == {"reason": "batch_too_large", "limit": cap}
    assert len(await rpc(d, s, [7] * cap)) == cap


async def test_every_element_valid_or_not_costs_a_token() -> None:
    d, s, _, _ = make(rpm=4)
    r = await rpc(d, s, [1, {"jsonrpc": "1.0", "id": 9}, req("ping", rid=2), 3, 4, 5])
    assert [x["error"]["code"] if "error" in x else x["result"] for x in r] == [
        -32600,
        -32600,
        "pong",
        -32600,
        -32002,
        -32002,
    ]
    assert r[4]["error"]["data"] == {"reason": "rate_limited"}
    assert (await rpc(d, s, req("ping")))["error"]["code"] == -32002
    # a frame refused whole, or a single invalid message, costs one too
    d, s, _, _ = make(rpm=2)
    assert (await rpc(d, s, 42))["error"]["code"] == -32600
    assert (await run(d.handle(s, "{not json"))) is not None
    assert (await rpc(d, s, 42))["error"]["code"] == -32002


async def test_a_reply_over_the_bound_is_refused_with_a_clear_error() -> None:
    d, s, _, rec = make(limits=Limits(100, 10_000, 4096))
    assert len((await rpc(d, s, req("blob", {"size": 4000})))["result"]) == 4000
    r = await rpc(d, s, req("blob", {"size": 5000}, rid=7))
    assert r == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32603,
            "message": "Internal error: reply too large "
            "(5036 bytes, more than the limit of 4096 bytes)",
            "data": {"reason": "reply_too_large", "limit": 4096},
        },
        "id": 7,
    }
    assert rec.requests[-1] == ("blob", -32603)


async def test_a_batch_reply_stays_within_the_bound_and_answers_every_element() -> None:
    d, s, _, _ = make(limits=Limits(100, 10_000, 4096))
    batch = [req("blob", {"size": 1000}, rid=i) for i in range(10)]
    reply = await run(d.handle(s, orjson.dumps(batch)))
    assert reply is not None
    r = orjson.loads(reply)
    assert [x["id"] for x in r] == list(range(10))  # every element ran and is answered
    one = len(orjson.dumps(r[0])) + 1  # a reply and its comma
    fit = (4096 - 1) // one
    assert fit == 3 and all("result" in x for x in r[:fit])
    assert all(x["error"]["data"]["reason"] == "reply_too_large" for x in r[fit:])
    assert len(reply) <= 4096 + (10 - fit) * 200  # past the bound: a short error each


async def test_a_long_batch_lets_the_loop_serve_others_between_slices() -> None:
    """30 elements of 1 ms each: never more than a slice's worth in one loop turn."""
    d, s, _, _ = make()
    LoopTurns.spun = []

    async def count_turns() -> None:
        while True:
            LoopTurns.now += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(count_turns())
    try:
        outcome = d.handle(s, orjson.dumps([req("spin", rid=i) for i in range(30)]))
        assert isinstance(outcome, Pending) and not outcome.concurrent
        reply = orjson.loads(await run(outcome) or b"")
    finally:
        ticker.cancel()
    assert [x["id"] for x in reply] == list(range(30))
    turns = LoopTurns.spun
    per_turn = [turns.count(t) for t in set(turns)]
    # a slice ends after the element that passes BATCH_SLICE: at most slice/1 ms + 1
    assert max(per_turn) <= round(BATCH_SLICE / 0.001) + 1
    assert len(per_turn) >= 30 // (round(BATCH_SLICE / 0.001) + 1)
