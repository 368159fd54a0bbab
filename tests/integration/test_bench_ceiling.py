"""The benchmark's echo ceiling answers as the service does, so the same generator
drives both (bench/echo_ceiling.py, started as bench/server.py starts it)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from server import ServiceProcess  # noqa: E402


@pytest.fixture(scope="module")
def ceiling() -> Iterator[ServiceProcess]:
    with ServiceProcess(target="echo") as srv:
        yield srv


async def call(ws: ClientConnection, request: dict[str, object]) -> dict[str, object]:
    await ws.send(orjson.dumps(request).decode())
    reply = orjson.loads(await ws.recv())
    assert isinstance(reply, dict)
    return reply


async def test_it_authenticates_and_answers_with_the_ping_reply(ceiling: ServiceProcess) -> None:
    async with websockets.connect(ceiling.ws_url) as ws:
        auth = {"auth_token": ceiling.mint_token()}
        reply = await call(
            ws, {"jsonrpc": "2.0", "method": "authenticate", "params": auth, "id": 0}
        )
        assert reply == {
            "jsonrpc": "2.0",
            "result": {"authenticated": True, "role": "admin"},
            "id": 0,
        }
        for method, rid in (("ping", 7), ("get_status", 8)):
            reply = await call(ws, {"jsonrpc": "2.0", "method": method, "id": rid})
            assert reply == {"jsonrpc": "2.0", "result": "pong", "id": rid}


async def test_a_bad_token_is_refused_and_a_notification_gets_no_reply(
    ceiling: ServiceProcess,
) -> None:
    async with websockets.connect(ceiling.ws_url) as ws:
        bad = {"auth_token": ceiling.mint_token() + "x"}
        reply = await call(ws, {"jsonrpc": "2.0", "method": "authenticate", "params": bad, "id": 1})
        error = reply["error"]
        assert isinstance(error, dict) and error["code"] == -32001
        await ws.send(orjson.dumps({"jsonrpc": "2.0", "method": "ping"}).decode())
        # The next reply is the next request's: the notification got none.
        reply = await call(ws, {"jsonrpc": "2.0", "method": "ping", "id": 2})
        assert reply["id"] == 2
        await ws.send("not json")
        assert orjson.loads(await ws.recv())["error"]["code"] == -32700
