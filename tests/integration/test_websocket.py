"""The WebSocket API over real loopback sockets: api.md §1-2."""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref

import aiohttp
import jwt
import orjson
import pytest

from camera_service.api.session import NOTIFICATION_TOPICS
from camera_service.app import Application
from camera_service.cameras.events import CameraAdded
from camera_service.cameras.model import Camera, SourceType
from camera_service.storage.events import SnapshotSaved
from tests.conftest import SECRET, Connect, make_token
from tests.rpc import RpcClient

ROLE_OF = {
    "ping": None,
    "authenticate": None,
    "rpc.discover": None,
    "subscribe_events": "viewer",
    "unsubscribe_events": "viewer",
    "get_server_info": "admin",
    "get_status": "admin",
    "get_metrics": "admin",
    "get_camera_list": "viewer",
    "get_camera_status": "viewer",
    "get_camera_capabilities": "viewer",
    "get_storage_info": "admin",
    "set_retention_policy": "admin",
    "cleanup_old_files": "admin",
    "list_recordings": "viewer",
    "list_snapshots": "viewer",
    "get_recording_info": "viewer",
    "get_snapshot_info": "viewer",
    "delete_recording": "operator",
    "delete_snapshot": "operator",
    "start_recording": "operator",
    "stop_recording": "operator",
    "take_snapshot": "operator",
    "create_media_token": "viewer",
    "get_stream_url": "viewer",
    "get_stream_status": "viewer",
    "start_streaming": "operator",
    "stop_streaming": "operator",
    "get_system_status": "viewer",
    "get_subscription_stats": "viewer",
    "get_health": "viewer",
}
# Well-formed params for methods that need some (the matrix is about roles, not params).
PARAMS: dict[str, dict[str, object]] = {
    "get_camera_status": {"device": "camera0"},
    "get_camera_capabilities": {"device": "camera0"},
    "get_preview": {"device": "camera0"},
    "set_retention_policy": {"policy_type": "manual", "enabled": False},
    "get_recording_info": {"filename": "none.mp4"},
    "create_download_url": {"kind": "recording", "filename": "none.mp4"},
    "get_snapshot_info": {"filename": "none.jpg"},
    "delete_recording": {"filename": "none.mp4"},
    "delete_snapshot": {"filename": "none.jpg"},
    "start_recording": {"device": "camera0"},
    "stop_recording": {"device": "camera0"},
    "take_snapshot": {"device": "camera0"},
    "create_media_token": {"camera_id": "camera0"},
    "get_stream_url": {"device": "camera0"},
    "get_stream_status": {"device": "camera0"},
    "start_streaming": {"device": "camera0"},
    "stop_streaming": {"device": "camera0"},
    "add_camera": {"camera_id": "matrix", "source": {"type": "test"}},
    "update_camera": {"camera_id": "nope"},  # -1000: never added
    "remove_camera": {"camera_id": "nope"},
    "add_external_stream": {"stream_url": "rtsp://127.0.0.1:9/matrix", "stream_name": "ext"},
    "remove_external_stream": {"stream_url": "rtsp://127.0.0.1:9/none"},  # -1000
    "set_discovery_interval": {"scan_interval": 0},
}
ROLES = ["viewer", "operator", "admin"]


async def test_ping_on_both_paths(connect: Connect) -> None:
    for path in ("/ws", "/"):
        c = await connect(path=path)
        assert await c.call("ping") == "pong"


async def test_authenticate_result_shape(connect: Connect) -> None:
    c = await connect()
    r = await c.call("authenticate", {"auth_token": make_token("operator")})
    assert r["authenticated"] is True
    assert r["role"] == "operator"
    assert r["permissions"] == ["view", "control"]
    assert r["expires_at"].endswith("Z")
    assert r["session_id"]
    r = await c.call("authenticate", {"token": make_token("admin"), "auth_type": "jwt"})
    assert r["permissions"] == ["view", "control", "admin"]


async def test_a_far_future_expiry_authenticates_and_says_so(
    service: Application, connect: Connect
) -> None:
    """A validly signed token whose expiry lies past year 9999 either authenticates with
    a readable expiry or is refused: never an internal error while the identity binds."""
    c = await connect()
    token = jwt.encode({"user_id": "far", "role": "viewer", "exp": 1e30}, SECRET, "HS256")
    r = await c.request("authenticate", {"auth_token": token})
    assert r["result"]["authenticated"] is True
    assert r["result"]["expires_at"] == "9999-12-31T23:59:59Z"
    assert "result" in await c.request("get_camera_list")


@pytest.mark.parametrize(
    ("token", "word"),
    [("not-a-token", "invalid"), (make_token("admin", ttl=-5), "expired"), ("", "invalid")],
)
async def test_authenticate_failures(connect: Connect, token: str, word: str) -> None:
    c = await connect()
    r = await c.request("authenticate", {"auth_token": token})
    assert r["error"]["code"] == -32001
    assert word in r["error"]["message"]
    assert r["error"]["data"]["reason"]
    assert token not in r["error"]["message"] or not token


async def test_role_matrix_for_every_registered_method(
    service: Application, connect: Connect
) -> None:
    assert set(service.parts.front.methods.names()) >= set(ROLE_OF)
    order = {None: 0, "viewer": 1, "operator": 2, "admin": 3}
    anon = await connect()
    clients = {role: await connect(role) for role in ROLES}
    for spec in service.parts.front.methods:
        required = spec.role.label if spec.role is not None else None
        if spec.name in ROLE_OF:
            assert ROLE_OF[spec.name] == required, spec.name
        params = (
            {"auth_token": make_token("admin")}
            if spec.name == "authenticate"
            else (PARAMS.get(spec.name, {}))
        )
        r = await anon.request(spec.name, params)
        if required is None:
            assert "result" in r, (spec.name, r)
        else:
            assert r["error"]["code"] == -32001, (spec.name, r)
        if spec.name == "authenticate":
            anon = await connect()  # keep this one unauthenticated
        for role, client in clients.items():
            if spec.name == "authenticate":
                continue
            r = await client.request(spec.name, PARAMS.get(spec.name, {}))
            if order[role] >= order[required]:
                # Past the role check: a result, or a domain error (-1xxx: no such file).
                assert "result" in r or r["error"]["code"] > -32000, (spec.name, role, r)
            else:
                assert r["error"]["code"] == -32003, (spec.name, role, r)
                assert r["error"]["message"] == (
                    f"Insufficient permissions - {required} role required for {spec.name}"
                )


async def test_only_the_calling_connection_is_authenticated(connect: Connect) -> None:
    a = await connect()
    b = await connect()
    await a.call("authenticate", {"auth_token": make_token("admin")})
    assert "result" in await a.request("get_status")
    r = await b.request("get_status")
    assert r["error"]["code"] == -32001
    assert r["error"]["message"] == (
        "Authentication required for get_status - call authenticate or provide auth_token"
    )


async def test_bad_tokens_refused(connect: Connect) -> None:
    import base64
    import time

    import jwt as pyjwt

    def b64(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(d)).rstrip(b"=").decode()

    claims = {"user_id": "u", "role": "admin", "exp": time.time() + 60}
    none_alg = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    wrong_secret = pyjwt.encode(claims, "another-secret-another-secret-123", algorithm="HS256")
    with warnings.catch_warnings():  # PyJWT warns that our test key is short for HS512
        warnings.simplefilter("ignore")
        wrong_alg = pyjwt.encode(claims, SECRET, algorithm="HS512")
    c = await connect()
    for tok in (none_alg, wrong_secret, wrong_alg):
        r = await c.request("authenticate", {"auth_token": tok})
        assert r["error"]["code"] == -32001, tok
        assert "invalid" in r["error"]["message"]


async def test_error_codes_on_the_wire(connect: Connect) -> None:
    c = await connect()
    r = await c.send_raw("{broken")
    assert r == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error: invalid JSON"},
        "id": None,
    }
    r = await c.send_raw('{"jsonrpc":"2.0","id":1}')
    assert r["error"]["code"] == -32600
    r = await c.send_raw('{"jsonrpc":"2.0","method":"x","id":2}')
    assert r["error"]["code"] == -32601
    r = await c.send_raw("[]")
    assert r["error"]["code"] == -32600
    r = await c.send_raw(
        '[{"jsonrpc":"2.0","method":"ping","id":1},{"jsonrpc":"2.0","method":"ping"}]',
        expect="batch",
    )
    assert r == [{"jsonrpc": "2.0", "result": "pong", "id": 1}]


async def test_rate_limit(tmp_path, connect: Connect, service: Application) -> None:
    service.ws.set_rate_limit(5)
    c = await connect()
    replies = [await c.request("ping") for _ in range(7)]
    assert [("error" in r) for r in replies] == [False] * 5 + [True] * 2
    assert replies[-1]["error"]["code"] == -32002
    assert replies[-1]["error"]["message"] == "Rate limit exceeded"


async def test_one_hostile_message_costs_one_short_error(connect: Connect) -> None:
    """Issue 14, item 1: a maximal frame of 524,287 invalid elements, and a batch past
    the cap, are each refused whole with one error; the service answers others."""
    c, other = await connect(), await connect()
    r = await c.send_raw("[" + ",".join(["1"] * 524_287) + "]")
    assert r["error"]["code"] == -32600
    assert r["error"]["data"] == {"reason": "too_many_values", "limit": 10_000}
    pings = [{"jsonrpc": "2.0", "method": "ping", "id": i} for i in range(101)]
    r = await c.send_raw(orjson.dumps(pings).decode())
    assert r["error"]["data"] == {"reason": "batch_too_large", "limit": 100}
    assert len(await c.send_raw(orjson.dumps(pings[:100]).decode(), expect="batch")) == 100
    assert (await other.request("ping"))["result"] == "pong"


async def test_binary_frame_closes_1003(connect: Connect) -> None:
    c = await connect()
    await c.ws.send_bytes(b"\x00\x01")
    assert await c.wait_closed() == 1003


async def test_oversized_frame_closes_1009(service: Application, connect: Connect) -> None:
    c = await connect()
    big = '{"jsonrpc":"2.0","method":"ping","id":1,"pad":"' + "x" * (1 << 20) + '"}'
    await c.ws.send_str(big)
    assert await c.wait_closed() == 1009
    # the service lives on
    d = await connect()
    assert await d.call("ping") == "pong"


async def test_plain_http_on_ws_port_asks_for_upgrade(service: Application) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{service.ws_port}/ws") as r:
        assert r.status == 426


async def test_subscriptions_filter_notifications(service: Application, connect: Connect) -> None:
    a = await connect("viewer")
    b = await connect("viewer")
    anon = await connect()
    # snapshot_taken is opt-in (a new connection hears the original topics only)
    assert (await a.call("subscribe_events"))["topics"] == sorted(NOTIFICATION_TOPICS)
    r = await b.call("subscribe_events", {"topics": ["snapshot_taken"]})
    assert r == {"subscribed": True, "topics": ["snapshot_taken"]}
    r = await b.request("subscribe_events", {"topics": ["no_such_topic"]})
    assert r["error"]["code"] == -32602
    service.events.publish(CameraAdded(Camera("cam0", SourceType.TEST, "Cam 0")))
    service.events.publish(
        SnapshotSaved("cam0", "cam0", "cam0.jpg", 10, 0.0, "stream", "jpg", 640, 360)
    )
    first = await a.notification()
    assert first == {
        "jsonrpc": "2.0",
        "method": "camera_status_update",
        "params": {
            "device": "cam0",
            "status": "DISCONNECTED",
            "name": "Cam 0",
            "resolution": "",
            "fps": 0,
            "streams": {},
            "camera_id": "cam0",
            "device_path": "cam0",
            "stream_url": None,
        },
    }
    assert (await a.notification())["method"] == "snapshot_taken"
    assert (await b.notification())["method"] == "snapshot_taken"
    # b filtered the first one out; anon gets nothing at all: a ping round-trip proves
    # every notification published before it was already written.
    assert await b.call("ping") == "pong" and b.notifications.empty()
    assert await anon.call("ping") == "pong" and anon.notifications.empty()
    r = await b.call("unsubscribe_events", {})
    assert r == {"unsubscribed": True, "topics": []}
    assert await b.call("subscribe_events", {"topics": []}) == {"subscribed": True, "topics": []}


async def test_a_closed_connection_is_freed_by_reference_counting(
    service: Application, connect: Connect
) -> None:
    """No reference cycle outlives a connection: left to the cycle collector, thousands
    of closed connections made full collections that showed as latency pauses."""
    client = await connect("viewer")
    await client.call("ping")
    (conn,) = service.ws.connections
    protocol = weakref.ref(conn.transport.get_protocol())
    del conn
    gc.disable()
    try:
        await service.ws.close_all()
        assert protocol() is None
    finally:
        gc.enable()


async def test_connection_cap(tmp_path) -> None:
    from tests.conftest import make_settings

    app = Application(make_settings(tmp_path, server={"max_connections": 2}))
    await app.start()
    clients: list[RpcClient] = []
    try:
        url = f"ws://127.0.0.1:{app.ws_port}/ws"
        clients = [await RpcClient.connect(url) for _ in range(2)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await RpcClient.connect(url)
        assert exc.value.status == 503
        assert app.metrics.connections_rejected == 1
        await clients.pop().close()
        # the slot frees once the server sees the close
        for _ in range(100):
            if len(app.ws.connections) < 2:
                break
            await asyncio.sleep(0.01)
        clients.append(await RpcClient.connect(url))
    finally:
        for c in clients:
            await c.close()
        await app.stop()


async def test_a_request_id_past_64_bits_comes_back_exactly(service: Application) -> None:
    url = f"ws://127.0.0.1:{service.ws_port}/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str('{"jsonrpc":"2.0","method":"ping","id":18446744073709551617}')
        assert await ws.receive_str(timeout=10) == (
            '{"jsonrpc":"2.0","result":"pong","id":18446744073709551617}'
        )
        huge = "9" * 5000
        await ws.send_str(f'{{"jsonrpc":"2.0","method":"ping","id":{huge}}}')
        reply = await ws.receive_str(timeout=10)
        assert reply.endswith(f'"id":{huge}}}') and '"code":-32600' in reply
