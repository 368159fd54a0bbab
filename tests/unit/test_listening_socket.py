"""``httpserver.listening_socket``: numeric addresses are bound as the loop binds them;
names are left to the loop."""

from __future__ import annotations

import errno
import socket

import pytest

from camera_service.net.httpserver import HttpServer, Router, listening_socket


@pytest.mark.parametrize("host", ["localhost", "", "camera-hub.local", "fe80::1%nosuchif"])
def test_a_name_is_left_to_the_loop(host: str) -> None:
    assert listening_socket(host, 0) is None


def test_an_ipv4_address_is_bound_and_listening() -> None:
    sock = listening_socket("127.0.0.1", 0)
    assert sock is not None
    with sock:
        assert sock.family == socket.AF_INET
        assert not sock.getblocking()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass  # the kernel completes the handshake: it listens


def test_an_ipv6_address_is_bound_for_ipv6_only() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        sock = listening_socket("::1", 0)
    except OSError as exc:  # an IPv6-less kernel or namespace
        pytest.skip(f"cannot bind ::1: {exc}")
    assert sock is not None
    with sock:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)


def test_a_taken_port_is_an_error_as_with_the_loop() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as taken,
        pytest.raises(OSError, match="in use") as info,
    ):
        listening_socket("127.0.0.1", taken.getsockname()[1])
    assert info.value.errno == errno.EADDRINUSE


async def test_the_server_listens_on_a_numeric_address_and_on_a_name() -> None:
    for host in ("127.0.0.1", "localhost"):
        server = HttpServer(Router())
        port = await server.start(host, 0)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        finally:
            server.stop_listening()
