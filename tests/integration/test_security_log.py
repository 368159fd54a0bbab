"""What an operator reads in the log about refused credentials and denied calls, and
each request at DEBUG (operations.md "Logs"), against the service on loopback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from camera_service.app import Application
from camera_service.app.parts import SECURITY_LOG_PER_SECOND, Observer
from tests.conftest import make_token
from tests.rpc import RpcClient


def url(app: Application) -> str:
    return f"ws://127.0.0.1:{app.ws_port}/ws"


def lines(caplog: pytest.LogCaptureFixture, msg: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == msg]


def everything(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)


async def test_refused_credentials_and_denials_are_warnings_without_the_secret(
    service: Application, caplog: pytest.LogCaptureFixture
) -> None:
    client = await RpcClient.connect(url(service))
    bad = "csk_" + "x" * 40
    expired = make_token("admin", ttl=-60)
    try:
        with caplog.at_level(logging.WARNING):
            reply = await client.request("authenticate", {"auth_token": bad})
            assert reply["error"]["code"] == -32001
            reply = await client.request("get_status", {"auth_token": expired})
            assert reply["error"]["code"] == -32001
            await client.call("authenticate", {"auth_token": make_token("viewer", user="ann")})
            reply = await client.request("get_status")
            assert reply["error"]["code"] == -32003
    finally:
        await client.close()
    refused = lines(caplog, "authentication failed")
    assert [(r.levelno, r.method, r.ip) for r in refused] == [  # type: ignore[attr-defined]
        (logging.WARNING, "authenticate", "127.0.0.1"),
        (logging.WARNING, "get_status", "127.0.0.1"),
    ]
    assert [r.reason for r in refused] == ["invalid", "expired"]  # type: ignore[attr-defined]
    (denied,) = lines(caplog, "permission denied")
    fields: Any = denied
    assert (fields.user_id, fields.method, fields.role, fields.ip) == (
        "ann",
        "get_status",
        "viewer",
        "127.0.0.1",
    )
    text = everything(caplog)
    assert bad not in text and expired not in text


async def test_each_request_is_logged_at_debug_with_its_duration(
    service: Application, caplog: pytest.LogCaptureFixture
) -> None:
    client = await RpcClient.connect(url(service))
    try:
        with caplog.at_level(logging.DEBUG, logger="camera_service.api.dispatch"):
            assert await client.call("ping") == "pong"
            await client.request("no_such_method")
    finally:
        await client.close()
    done: Any = lines(caplog, "request done")
    assert [(r.method, r.code) for r in done] == [("ping", 0), ("unknown", -32601)]
    assert all(r.duration_ms >= 0 and r.request_id.endswith((":1", ":2")) for r in done)


def test_a_flood_is_counted_not_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Quiet:
        def security_event(self, event: str) -> None: ...
        def record(self, event: str, actor: str | None, **detail: Any) -> None: ...

        request_done = None

    clock = [1000.0]
    monkeypatch.setattr("camera_service.app.parts.time.monotonic", lambda: clock[0])
    observer = Observer(Quiet(), Quiet())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        for _ in range(SECURITY_LOG_PER_SECOND + 25):
            observer.security_event("auth_failure", None, reason="invalid", ip="10.0.0.9")
        assert len(lines(caplog, "authentication failed")) == SECURITY_LOG_PER_SECOND
        clock[0] += 1
        observer.security_event("auth_failure", None, reason="invalid", ip="10.0.0.9")
    last: Any = lines(caplog, "authentication failed")[-1]
    assert last.suppressed == 25
