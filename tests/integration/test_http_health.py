"""Health and metrics over HTTP, and the admin status methods, on a running service."""

from __future__ import annotations

import time

import aiohttp

from camera_service.app import Application
from camera_service.observability.health import Status
from camera_service.storage.events import SnapshotSaved
from tests.conftest import Connect


async def get(app: Application, path: str) -> tuple[int, dict[str, object] | str]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{app.health_port}{path}") as r,
    ):
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, await r.text()


async def test_live_and_ready(service: Application) -> None:
    assert (await get(service, "/health/live"))[0] == 200
    status, body = await get(service, "/health/ready")
    assert status == 200 and isinstance(body, dict) and body["status"] == "ready"


async def test_component_turning_unhealthy_fails_readiness_and_notifies(
    service: Application, connect: Connect
) -> None:
    client = await connect("admin")
    await client.call("subscribe_events", {"topics": ["system_status_update"]})  # opt-in
    part = service.health.register("recorder")  # a critical component
    part.set(Status.UNHEALTHY, "disk gone", path="/media")
    while True:  # skip other components' changes (MediaMTX is absent in this test)
        note = await client.notification()
        if note["params"]["component"] == "recorder":
            break
    assert note["method"] == "system_status_update"
    assert note["params"]["status"] == "unhealthy"

    status, body = await get(service, "/health/system")
    assert status == 503 and isinstance(body, dict)
    assert body["status"] == "unhealthy"
    comp = body["components"]["recorder"]  # type: ignore[index]
    assert comp["status"] == "unhealthy" and comp["details"]["reason"] == "disk gone"
    status, body = await get(service, "/health/ready")
    assert status == 503 and body["status"] == "not_ready"  # type: ignore[index]
    assert "recorder" in body["details"]["reason"]  # type: ignore[index]
    assert (await get(service, "/health/recorder"))[0] == 503
    r = await client.call("get_status")
    assert r["status"] == "unhealthy"
    assert set(r["components"]) == {
        "camera_monitor",
        "mediamtx",
        "mediamtx_controller",
        "recorder",
        "storage",
        "websocket_server",
    }
    assert r["components"]["recorder"] == "unhealthy"

    part.set(Status.HEALTHY)
    assert (await get(service, "/health/ready"))[0] == 200
    assert (await get(service, "/health/recorder"))[0] == 200


async def test_a_viewer_reads_health_with_reasons_but_no_details(
    service: Application, connect: Connect
) -> None:
    part = service.health.register("recorder")
    part.set(Status.DEGRADED, "slow writes to /media/hub via 10.1.2.3:9997", mount="/media/hub")
    await service.media.check()  # nothing listens on the configured MediaMTX port
    viewer, admin_client = await connect("viewer"), await connect("admin")
    health = await viewer.call("get_health")
    admin = await admin_client.call("get_status")
    assert health["status"] == admin["status"] == "degraded"
    assert {name: c["status"] for name, c in health["components"].items()} == admin["components"]
    # What is wrong, in words; not where (addresses, paths), and no details at all.
    assert health["components"]["recorder"]["reason"] == "slow writes to … via …"
    assert health["components"]["mediamtx"]["reason"] == "unreachable"
    assert health["capacity"] == admin["capacity"]
    for hidden in ("/media/hub", "10.1.2.3", "127.0.0.1", "details"):
        assert hidden not in str(health), hidden
    since = health["components"]["recorder"]["since"]
    assert since.endswith("Z") and since[:4].isdigit()
    # An admin reads the reasons whole.
    whole = await admin_client.call("get_health")
    assert (
        whole["components"]["recorder"]["reason"] == "slow writes to /media/hub via 10.1.2.3:9997"
    )


async def test_mediamtx_down_only_degrades(service: Application) -> None:
    changes: list[str] = []
    service.health.listeners.append(
        lambda state: changes.append(state.status.value) if state.name == "mediamtx" else None
    )
    for _ in range(6):  # nothing listens on the configured API port
        await service.media.check()
    # one change, however many failed checks: clients are not told every few seconds
    assert changes in ([], ["unhealthy"])
    assert service.health.components["mediamtx"].reason == "unreachable"
    status, body = await get(service, "/health/mediamtx")
    assert status == 503 and body["status"] == "unhealthy"  # type: ignore[index]
    status, body = await get(service, "/health/system")
    assert status == 200 and body["status"] == "degraded"  # type: ignore[index]
    assert (await get(service, "/health/ready"))[0] == 200


async def test_non_critical_component_only_degrades(service: Application) -> None:
    service.health.register("registry", critical=False).set(Status.UNHEALTHY, "etcd down")
    status, body = await get(service, "/health/system")
    assert status == 200 and body["status"] == "degraded"  # type: ignore[index]
    assert (await get(service, "/health/ready"))[0] == 200


async def test_unknown_component_is_404(service: Application) -> None:
    status, body = await get(service, "/health/nosuch")
    assert status == 404 and body["status"] == "unknown"  # type: ignore[index]
    status, body = await get(service, "/health/cameras")  # alias of camera_monitor
    assert status == 200 and body["status"] == "healthy"  # type: ignore[index]


async def test_metrics_count_real_requests(service: Application, connect: Connect) -> None:
    c = await connect("admin")
    for _ in range(5):
        await c.call("ping")
    await c.request("no_such_method")
    m = await c.call("get_metrics")
    assert m["total_requests"] >= 7  # authenticate + 5 pings + the bad one
    assert 0 < m["error_rate"] < 1
    assert m["active_connections"] == 1
    assert m["memory_usage"] > 1
    assert m["p99_ms"] >= m["p50_ms"] > 0
    for key in (
        "average_response_time",
        "cpu_usage",
        "requests_per_second",
        "cameras",
        "streams",
        "recordings_active",
    ):
        assert key in m
    status, text = await get(service, "/metrics")
    assert status == 200 and isinstance(text, str)
    assert 'camera_service_rpc_requests_total{method="ping",code="0"} 5' in text
    assert 'camera_service_rpc_requests_total{method="unknown",code="-32601"} 1' in text
    assert 'camera_service_rpc_request_duration_seconds_bucket{method="ping",le="+Inf"} 5' in text
    assert "camera_service_websocket_open_connections 1" in text
    assert "camera_service_notifications_dropped_total 0" in text


async def test_notification_fan_out_is_timed_in_the_metrics(
    service: Application, connect: Connect
) -> None:
    def fanned_out(text: object) -> int:
        prefix = "camera_service_notification_fanout_seconds_count "
        lines = [line for line in str(text).splitlines() if line.startswith(prefix)]
        return int(lines[0].removeprefix(prefix))

    viewers = [await connect("viewer") for _ in range(3)]
    for v in viewers:  # snapshot_taken is opt-in
        await v.call("subscribe_events", {"topics": ["snapshot_taken"]})
    _, before = await get(service, "/metrics")
    service.events.publish(SnapshotSaved("lab", "lab", "x.jpg", 1, 0.0, "warm", "jpg", 1, 1))
    for v in viewers:
        await v.wait_notification("snapshot_taken", lambda p: p["filename"] == "x.jpg")
    _, after = await get(service, "/metrics")
    assert fanned_out(after) == fanned_out(before) + 1
    assert 'camera_service_notification_fanout_seconds_bucket{le="+Inf"}' in str(after)


async def test_server_info_and_discover(service: Application, connect: Connect) -> None:
    c = await connect("admin")
    info = await c.call("get_server_info")
    assert info["name"] == "camera-service"
    assert {"capabilities", "supported_formats", "max_cameras", "version"} <= set(info)
    doc = await c.call("rpc.discover")
    assert doc["openrpc"].startswith("1.")
    # The server as this client reached it, and the notifications it may receive.
    assert doc["servers"] == [
        {
            "name": "camera-service",
            "url": f"ws://127.0.0.1:{service.ws_port}/ws",
            "summary": "JSON-RPC 2.0 over WebSocket, one message per text frame.",
        }
    ]
    assert "camera_status_update" in {n["name"] for n in doc["x-notifications"]}
    by_name = {m["name"]: m for m in doc["methods"]}
    assert set(by_name) == set(service.parts.front.methods.names())
    assert by_name["get_status"]["x-required-role"] == "admin"
    assert by_name["ping"]["x-required-role"] is None
    auth_params = {p["name"] for p in by_name["authenticate"]["params"]}
    assert {"auth_token", "token", "auth_type"} <= auth_params
    assert by_name["get_metrics"]["result"]["schema"]


async def test_token_expiring_mid_session(service: Application, connect: Connect) -> None:
    c = await connect("viewer")
    assert "result" in await c.request("subscribe_events", {})
    service.parts.front.dispatcher.clock = lambda: (
        time.time() + 2 * 86400
    )  # the token is now past exp
    r = await c.request("subscribe_events", {})
    assert r["error"]["code"] == -32001 and "expired" in r["error"]["message"]
    # and it stays unauthenticated: notifications stop too
    assert c.notifications.empty()
