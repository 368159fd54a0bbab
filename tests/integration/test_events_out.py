"""Events out end to end: the service against a real broker (Debian mosquitto, started
here on a loopback port of its own) and a loopback webhook receiver; the camera is the
media stack's live test pattern ``lab`` (tests/support/media_stack.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from camera_service.integrations import signing
from camera_service.observability.health import Status
from camera_service.storage.disk import DiskUsage, StorageLevel, StorageLevelChanged, StorageStatus
from tests.conftest import make_token
from tests.support.media_stack import MediaStack, MediaStackFactory
from tests.support.mqtt import MosquittoBroker, Seen, Watcher, WebhookReceiver, retained
from tests.support.service_process import ServiceProcess, write_config

pytestmark = pytest.mark.slow

NODE = "hub1"
BASE = f"camera-service/{NODE}"
SECRET = "webhook-secret-0123456789"
WAIT = 60.0  # generous: other test runs share the two cores


@pytest_asyncio.fixture
async def broker(tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    async with MosquittoBroker(tmp_path / "mosquitto") as b:
        yield b


def mqtt_section(broker: MosquittoBroker, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "port": broker.port,
        "node_id": NODE,
        "retry_max": 0.5,
        **extra,
    }


def json_on(topic: str, **fields: Any) -> Any:
    def match(m: Seen) -> bool:
        if m.topic != topic or not m.payload:
            return False
        body = orjson.loads(m.payload)
        return all(body.get(k) == v for k, v in fields.items())

    return match


def event(kind: str, **fields: Any) -> Any:
    def match(m: Seen) -> bool:
        if m.topic != f"{BASE}/events":
            return False
        body = orjson.loads(m.payload)
        return bool(
            body["event"] == kind and all(body["data"].get(k) == v for k, v in fields.items())
        )

    return match


async def health_of(stack: MediaStack, name: str, status: Status) -> None:
    await stack.app.media.wait_until(
        lambda: stack.app.health.components[name].status is status, WAIT
    )


async def test_state_discovery_and_the_recording_switch(
    broker: MosquittoBroker, media_stack: MediaStackFactory
) -> None:
    async with Watcher(broker.port) as watch:
        stack = await media_stack(
            mqtt=mqtt_section(broker, command_api_key=make_token("operator", ttl=3600))
        )
        await stack.path_ready()
        await watch.wait(lambda m: m.topic == f"{BASE}/status" and m.payload == b"online", WAIT)
        await watch.wait(json_on(f"{BASE}/cameras/lab/status", status="CONNECTED"), WAIT)
        # Retained, QoS 1: what a subscriber that comes later sees.
        assert await retained(broker.port, f"{BASE}/status") == b"online"
        status = orjson.loads(await retained(broker.port, f"{BASE}/cameras/lab/status") or b"{}")
        assert status["camera_id"] == "lab" and status["source_type"] == "test"
        assert await retained(broker.port, f"{BASE}/cameras/lab/availability") == b"online"
        switch = await retained(broker.port, f"homeassistant/switch/{NODE}/lab_recording/config")
        config = orjson.loads(switch or b"{}")
        assert config["command_topic"] == f"{BASE}/cameras/lab/recording/set"
        assert config["unique_id"] == f"camera-service_{NODE}_lab_recording"
        assert await retained(broker.port, f"homeassistant/camera/{NODE}/lab_snapshot/config")
        off = orjson.loads(await retained(broker.port, f"{BASE}/cameras/lab/recording") or b"{}")
        assert off["state"] == "OFF"

        # The switch: a command through the API's rules, its effect on the state topic.
        await watch.publish(f"{BASE}/cameras/lab/recording/set", b"ON")
        started = await watch.wait(event("recording.started", camera_id="lab"), WAIT)
        assert orjson.loads(started.payload)["node_id"] == NODE
        await watch.wait(json_on(f"{BASE}/cameras/lab/recording", state="ON"), WAIT)
        client = await stack.client("operator")
        assert (await client.call("get_camera_status", {"device": "lab"}))["recording"] is True
        result = await watch.wait(lambda m: m.topic == f"{BASE}/cameras/lab/recording/result")
        assert orjson.loads(result.payload)["ok"] is True

        shot = await client.call("take_snapshot", {"device": "lab"})
        taken = await watch.wait(event("snapshot.taken", filename=shot["filename"]), WAIT)
        assert orjson.loads(taken.payload)["camera_id"] == "lab"
        image = await watch.wait(lambda m: m.topic == f"{BASE}/cameras/lab/image", WAIT)
        assert image.payload[:2] == b"\xff\xd8"  # a JPEG, for Home Assistant's camera entity

        await watch.publish(f"{BASE}/cameras/lab/recording/set", b"OFF")
        stopped = await watch.wait(event("recording.stopped", camera_id="lab"), WAIT)
        assert orjson.loads(stopped.payload)["data"]["state"] == "OFF"
        assert (await client.call("get_camera_status", {"device": "lab"}))["recording"] is False
        assert "camera_service_mqtt_connected 1" in await _metrics_text(stack)


async def test_commands_follow_the_operator_rules(
    broker: MosquittoBroker, media_stack: MediaStackFactory
) -> None:
    """A viewer's credential may not record, over MQTT as over the API."""
    async with Watcher(broker.port) as watch:
        stack = await media_stack(mqtt=mqtt_section(broker, command_api_key=make_token("viewer")))
        await stack.path_ready()
        await watch.wait(json_on(f"{BASE}/cameras/lab/status", status="CONNECTED"), WAIT)
        await watch.publish(f"{BASE}/cameras/lab/recording/set", b"ON")
        result = await watch.wait(lambda m: m.topic == f"{BASE}/cameras/lab/recording/result")
        body = orjson.loads(result.payload)
        assert body["ok"] is False and body["code"] == -32003, body
        assert "operator role required" in body["error"]
        client = await stack.client("viewer")
        assert (await client.call("get_camera_status", {"device": "lab"}))["recording"] is False


async def test_broker_restart_republishes_state(
    broker: MosquittoBroker, media_stack: MediaStackFactory
) -> None:
    stack = await media_stack(mqtt=mqtt_section(broker))
    await stack.path_ready()
    async with Watcher(broker.port) as watch:
        await watch.wait(json_on(f"{BASE}/cameras/lab/status", status="CONNECTED"), WAIT)
    await health_of(stack, "mqtt", Status.HEALTHY)

    await broker.stop(kill=True)  # the broker dies, and forgets every retained message
    await health_of(stack, "mqtt", Status.DEGRADED)
    assert stack.app.health.overall() is not Status.UNHEALTHY
    # State changes while the broker is away: it is not lost.
    client = await stack.client("operator")
    await client.call("start_recording", {"device": "lab"})
    await stack.app.media.wait_until(lambda: bool(stack.app.recordings.active), WAIT)

    await broker.start()
    await health_of(stack, "mqtt", Status.HEALTHY)
    async with Watcher(broker.port) as watch:  # a new subscriber: retained state only
        await watch.wait(lambda m: m.topic == f"{BASE}/status" and m.payload == b"online", WAIT)
        await watch.wait(json_on(f"{BASE}/cameras/lab/status", status="CONNECTED"), WAIT)
        await watch.wait(json_on(f"{BASE}/cameras/lab/recording", state="ON"), WAIT)
        await watch.wait(
            lambda m: (
                m.topic == f"homeassistant/switch/{NODE}/lab_recording/config"
                or m.topic == f"homeassistant/binary_sensor/{NODE}/lab_recording/config"
            ),
            WAIT,
        )
    await client.call("stop_recording", {"device": "lab"})


async def test_last_will_says_offline(broker: MosquittoBroker, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.yaml", tmp_path / "data", mqtt=mqtt_section(broker, keepalive=5)
    )
    service = await ServiceProcess.start(config)
    try:
        async with Watcher(broker.port, (f"{BASE}/status",)) as watch:
            await watch.wait(lambda m: m.payload == b"online", WAIT)
            service.signal(signal.SIGKILL)  # no clean stop: only the broker can say it
            await watch.wait(lambda m: m.payload == b"offline", WAIT)
        assert await retained(broker.port, f"{BASE}/status") == b"offline"
    finally:
        await service.kill()


async def test_clean_stop_says_offline(broker: MosquittoBroker, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", tmp_path / "data", mqtt=mqtt_section(broker))
    service = await ServiceProcess.start(config)
    try:
        async with Watcher(broker.port, (f"{BASE}/status",)) as watch:
            await watch.wait(lambda m: m.payload == b"online", WAIT)
            service.signal(signal.SIGTERM)
            assert await service.exit_code() == 0
            await watch.wait(lambda m: m.payload == b"offline", WAIT)
    finally:
        await service.kill()


# --- webhooks -----------------------------------------------------------------------


def webhooks(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "targets": [{"url": receiver.url, "secret": SECRET}],
        "retry_initial": 0.2,
        "retry_max": 0.5,
        **extra,
    }


def kind(name: str, camera: str | None = None) -> Any:
    def match(r: Any) -> bool:
        body = orjson.loads(r.body)
        return bool(body["event"] == name and (camera is None or body["camera_id"] == camera))

    return match


async def test_webhook_down_then_up_delivers_signed_events(
    media_stack: MediaStackFactory,
) -> None:
    receiver = WebhookReceiver()  # not listening yet: the receiver is down
    stack = await media_stack(webhooks=webhooks(receiver))
    try:
        await stack.path_ready()
        await health_of(stack, "webhooks", Status.DEGRADED)
        reason = stack.app.health.components["webhooks"].reason
        assert receiver.url.removesuffix("/hook") in reason, reason
        await receiver.start()
        got = await receiver.wait(kind("camera.status", "lab"), WAIT)
        await receiver.wait(kind("service.availability"), WAIT)
        await health_of(stack, "webhooks", Status.HEALTHY)

        # The signature, checked as a receiver would (and independently of the module).
        ts = got.headers[signing.TIMESTAMP_HEADER]
        assert abs(int(ts) - time.time()) < 120
        mac = hmac.new(SECRET.encode(), ts.encode() + b"." + got.body, hashlib.sha256)
        assert got.headers[signing.SIGNATURE_HEADER] == "sha256=" + mac.hexdigest()
        assert signing.verify(
            SECRET.encode(),
            got.body,
            got.headers[signing.SIGNATURE_HEADER],
            ts,
            time.time(),
        )
        assert not signing.verify(
            b"another-secret-0123456789", got.body, got.headers[signing.SIGNATURE_HEADER], ts,
            time.time(),
        )  # fmt: skip
        assert got.headers[signing.EVENT_HEADER] == "camera.status"
        body = orjson.loads(got.body)
        assert body["id"] == got.headers[signing.DELIVERY_HEADER]
        assert body["data"]["camera_id"] == "lab" and body["node_id"]

        client = await stack.client("operator")
        await client.call("start_recording", {"device": "lab"})
        await receiver.wait(kind("recording.started", "lab"), WAIT)
        await client.call("stop_recording", {"device": "lab"})
        await receiver.wait(kind("recording.stopped", "lab"), WAIT)
        assert "camera_service_webhook_delivered_total" in await _metrics_text(stack)
    finally:
        await receiver.stop()


async def test_a_slow_webhook_never_slows_the_api(media_stack: MediaStackFactory) -> None:
    receiver = WebhookReceiver()
    receiver.delay = 4.0  # each delivery hangs; the timeout (10 s) is longer
    await receiver.start()
    stack = await media_stack(webhooks=webhooks(receiver, timeout=10.0))
    try:
        await stack.path_ready()
        client = await stack.client("operator")
        await client.call("start_recording", {"device": "lab"})  # events queue up behind
        began = time.monotonic()
        for _ in range(20):
            await client.call("get_camera_list")
            await client.call("ping")
        elapsed = time.monotonic() - began
        assert elapsed < 3.0, elapsed  # 40 calls; one slow delivery alone takes 4 s
        hooks = stack.app.parts.events_out.webhooks
        assert hooks is not None and sum(len(t.queue) for t in hooks.targets) >= 1
        await client.call("stop_recording", {"device": "lab"})
    finally:
        receiver.delay = 0.0
        await receiver.stop()


async def test_the_api_answers_while_the_bus_fans_out(media_stack: MediaStackFactory) -> None:
    """Publishing on the bus costs a webhook target nothing but a queue append, even with
    the receiver gone and the queue full: the oldest event is dropped and counted."""
    receiver = WebhookReceiver()  # never started
    stack = await media_stack(webhooks=webhooks(receiver, queue_size=3))
    await stack.path_ready()
    hooks = stack.app.parts.events_out.webhooks
    assert hooks is not None
    target = hooks.targets[0]
    status = StorageStatus(StorageLevel.WARN, DiskUsage(100, 85, 15), 80.0, 90.0, time.time())
    level = StorageLevelChanged(status, StorageLevel.OK)  # what nothing else here acts on
    began = time.perf_counter()
    for _ in range(1000):
        stack.app.events.publish(level)
    assert time.perf_counter() - began < 1.0
    assert len(target.queue) == 3 and target.dropped >= 997
    text = await _metrics_text(stack)
    assert "camera_service_webhook_dropped_total" in text


async def _metrics_text(stack: MediaStack) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.app.health_port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.decode(errors="replace")
