"""After a WebSocket upgrade the transport's protocol is the WebSocket side: the HTTP
protocol is out of the path of every later byte, and out of the server's HTTP
connections (which ``close_idle`` closes)."""

from __future__ import annotations

from camera_service.net.httpserver import HttpProtocol, HttpServer
from tests.support.httpdrive import FakeTransport, Sink, Upgrader, make_router

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


async def test_the_upgraded_transport_speaks_to_the_websocket_side() -> None:
    upgrader = Upgrader()
    server = HttpServer(make_router(), upgrader)
    http = HttpProtocol(server)
    transport = FakeTransport()
    http.connection_made(transport)
    assert server.connections == {http}
    http.data_received(UPGRADE + b"first")
    assert isinstance(transport.protocol, Sink)
    assert transport.protocol is upgrader.sink
    assert bytes(transport.protocol.data) == b"first"  # the rest of the upgrading read
    assert not server.connections
    server.close_idle()
    assert not transport.closed
