"""The WebSocket over TLS: after the upgrade the TLS transport hands its bytes to the
WebSocket connection itself (the protocol switch), on asyncio's loop and on uvloop."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
import uvloop

from camera_service.app import Application
from tests.conftest import make_settings, make_token
from tests.support.tls import self_signed

WAIT = 30.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"), WAIT)


async def _pings_over_tls(tmp_path: Path, cert: Path, key: Path) -> None:
    settings = make_settings(
        tmp_path, server={"tls": {"cert_file": str(cert), "key_file": str(key)}}
    )
    app = Application(settings)
    await app.start()
    try:
        tls = ssl.create_default_context(cafile=str(cert))
        url = f"wss://127.0.0.1:{app.ws_port}/ws"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, ssl=tls) as ws,
        ):
            token = make_token("viewer")
            await ws.send_json({"jsonrpc": "2.0", "method": "ping", "id": 1})
            assert (await ws.receive_json(timeout=WAIT))["result"] == "pong"
            big = {
                "jsonrpc": "2.0",
                "method": "ping",
                "id": "x" * 70000,
            }  # 64-bit length, many TLS records
            await ws.send_json(big)
            assert (await ws.receive_json(timeout=WAIT))["id"] == big["id"]
            auth = {"auth_token": token}
            await ws.send_json(
                {"jsonrpc": "2.0", "method": "authenticate", "params": auth, "id": 2}
            )
            assert (await ws.receive_json(timeout=WAIT))["result"]["authenticated"]
            await ws.close()
            assert ws.close_code == 1000
    finally:
        await app.stop()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_requests_and_close_over_tls(
    tmp_path: Path, certificate: tuple[Path, Path], loop: str
) -> None:
    cert, key = certificate
    if loop == "uvloop":
        uvloop.run(_pings_over_tls(tmp_path, cert, key))
    else:
        asyncio.run(_pings_over_tls(tmp_path, cert, key))
