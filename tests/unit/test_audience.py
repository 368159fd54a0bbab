"""The audiences the server keeps for its fan-out cannot go stale: whoever connects,
leaves, authenticates, forgets its identity or changes its subscriptions is heard of
(or not) from the next notification on, and a camera outside a connection's scope never
reaches it however the audiences were kept. No sockets."""

from __future__ import annotations

from camera_service.api.audience import LIMIT, Audiences
from camera_service.api.session import Session
from camera_service.api.websocket import Connection
from camera_service.auth.identity import Identity, Role
from camera_service.net.wsframes import text_frame
from tests.unit.test_ws_connection import FakeTransport, Stack

CAMERA = "camera_status_update"
STORAGE = "storage_status_update"


def viewer(cameras: tuple[str, ...] | None = None) -> Identity:
    return Identity("tester", Role.VIEWER, "jwt", None, cameras=cameras)


def notified(transport: FakeTransport) -> list[bytes]:
    return [payload for _, payload in transport.frames()]


async def test_a_session_is_heard_of_from_the_next_notification_on() -> None:
    stack = Stack()
    one, one_out = stack.connect()
    one.session.authenticate(viewer())
    assert stack.server.broadcast(CAMERA, text_frame(b"first"), "lab") == (1, 0)

    two, two_out = stack.connect()  # connects: not authenticated yet, hears nothing
    assert stack.server.broadcast(CAMERA, text_frame(b"second"), "lab") == (1, 0)
    two.session.authenticate(viewer())
    assert stack.server.broadcast(CAMERA, text_frame(b"third"), "lab") == (2, 0)
    assert notified(two_out) == [b"third"]

    two.session.subscribe(frozenset({STORAGE}))  # narrows to storage only
    assert stack.server.broadcast(CAMERA, text_frame(b"fourth"), "lab") == (1, 0)
    two.session.subscribe(None)  # every topic
    assert stack.server.broadcast(CAMERA, text_frame(b"fifth"), "lab") == (2, 0)
    two.session.unsubscribe(frozenset({CAMERA}))
    assert stack.server.broadcast(CAMERA, text_frame(b"sixth"), "lab") == (1, 0)

    one.session.forget_identity()  # its token expired at its last request
    assert stack.server.broadcast(CAMERA, text_frame(b"seventh"), "lab") == (0, 0)
    assert notified(one_out) == [b"first", b"second", b"third", b"fourth", b"fifth", b"sixth"]


async def test_a_connection_that_left_is_not_written_to() -> None:
    stack = Stack()
    conns: list[tuple[Connection, FakeTransport]] = [stack.connect() for _ in range(3)]
    for conn, _ in conns:
        conn.session.authenticate(viewer())
    # Not subscribed to storage by default:
    assert stack.server.broadcast(STORAGE, text_frame(b"a"), None) == (0, 0)
    for conn, _ in conns:
        conn.session.subscribe(frozenset({STORAGE}))
    assert stack.server.broadcast(STORAGE, text_frame(b"b"), None) == (3, 0)
    gone, gone_out = conns.pop()
    gone.connection_lost(None)
    assert stack.server.broadcast(STORAGE, text_frame(b"c"), None) == (2, 0)
    assert notified(gone_out) == [b"b"]


async def test_a_camera_outside_the_scope_never_reaches_the_connection() -> None:
    stack = Stack()
    everyone, everyone_out = stack.connect()
    everyone.session.authenticate(viewer())
    limited, limited_out = stack.connect()
    limited.session.authenticate(viewer(cameras=("lab",)))
    for _ in range(2):  # found, then kept
        assert stack.server.broadcast(CAMERA, text_frame(b"lab"), "lab") == (2, 0)
        assert stack.server.broadcast(CAMERA, text_frame(b"yard"), "yard") == (1, 0)
        # About no camera (as storage and health are): every subscriber hears it.
        assert stack.server.broadcast(CAMERA, text_frame(b"media"), None) == (2, 0)
    assert notified(limited_out) == [b"lab", b"media", b"lab", b"media"]
    assert notified(everyone_out).count(b"yard") == 2


async def test_a_frame_per_host_is_built_once_per_host() -> None:
    stack = Stack()
    for _ in range(3):
        conn, _ = stack.connect()
        conn.session.authenticate(viewer())
    built: list[str] = []

    def frame(host: str) -> bytes:
        built.append(host)
        return host.encode()

    assert stack.server.broadcast(CAMERA, frame, "lab") == (3, 0)
    assert built == ["127.0.0.1"]


class Member:
    def __init__(self, host: str) -> None:
        self.session = Session(60, host)
        self.session.authenticate(viewer())


def test_audiences_group_by_host_in_connection_order_and_stay_bounded() -> None:
    members = [Member("a"), Member("b"), Member("a")]
    audiences = Audiences(lambda: members)
    groups = audiences.of(CAMERA, "lab")
    assert [(host, [members.index(m) for m in ms]) for host, ms in groups] == [
        ("a", [0, 2]),
        ("b", [1]),
    ]
    assert audiences.of(CAMERA, "lab") is groups  # kept
    for i in range(LIMIT * 2):
        audiences.of(CAMERA, f"cam{i}")
    assert len(audiences._kept) <= LIMIT
    members.append(Member("c"))
    audiences.changed()
    assert [host for host, _ in audiences.of(CAMERA, "lab")] == ["a", "b", "c"]
