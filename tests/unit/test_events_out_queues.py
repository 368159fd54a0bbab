"""Events out never block and stay bounded: the MQTT link's state and event queue,
a webhook target's queue, its outcomes per HTTP status and its capped backoff."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.config import MqttConfig, WebhooksConfig, WebhookTarget
from camera_service.integrations import signing, wire
from camera_service.integrations.mqtt import MqttLink
from camera_service.integrations.webhooks import Delivery, Webhooks
from camera_service.net.httpclient import HttpResponse, HttpTimeout
from camera_service.observability.health import Health, Status

LAB = Camera("lab", SourceType.TEST, "Lab", CameraStatus.CONNECTED)
SECRET = "0123456789abcdef0123"


def link(queue_size: int = 10, **cfg: Any) -> MqttLink:
    health = Health().register("mqtt", critical=False)
    return MqttLink(
        MqttConfig(enabled=True, node_id="hub1", queue_size=queue_size, **cfg),
        "hub1",
        "1.0",
        health,
        snapshots=Path("/nonexistent"),
        storage=lambda: None,
        commands=None,
    )


def test_events_are_bounded_and_state_is_not() -> None:
    mqtt = link(queue_size=10)
    for i in range(50):
        camera = Camera(f"c{i}", SourceType.TEST, f"C{i}", CameraStatus.CONNECTED)
        mqtt.put(wire.camera_status(camera, float(i)))
    assert len(mqtt.events) == 10 and mqtt.dropped == 40
    assert orjson_event(mqtt.events[0][1]) == "c40"  # the oldest went first
    # Every camera's retained state is kept (one payload per topic, never dropped).
    assert all(f"camera-service/hub1/cameras/c{i}/status" in mqtt.state for i in range(50))
    assert "camera-service/hub1/cameras/c0/recording" in mqtt.state
    assert len(mqtt.dirty) == len(mqtt.state)


def orjson_event(payload: bytes) -> str:
    import orjson

    camera: str = orjson.loads(payload)["camera_id"]
    return camera


def test_state_keeps_only_the_latest_per_topic() -> None:
    mqtt = link()
    mqtt.put(wire.camera_status(LAB, 1.0))
    gone = Camera("lab", SourceType.TEST, "Lab", CameraStatus.DISCONNECTED)
    mqtt.put(wire.camera_status(gone, 2.0))
    assert mqtt.state["camera-service/hub1/cameras/lab/availability"] == b"offline"
    assert sum(1 for t in mqtt.state if t.startswith("camera-service/hub1/cameras/lab/")) == 3


def test_a_removed_camera_clears_state_and_discovery() -> None:
    mqtt = link()
    mqtt.put(wire.camera_status(LAB, 1.0))
    made = [t for t in mqtt.configs if "/lab_" in t]
    assert made
    mqtt.configs_dirty.clear()
    mqtt.put(wire.camera_status(LAB, 2.0, removed=True))
    assert all(mqtt.configs[t] == b"" for t in made)
    assert set(made) <= set(mqtt.configs_dirty)
    assert mqtt.state["camera-service/hub1/cameras/lab/status"] == b""


def test_discovery_off_publishes_no_configs() -> None:
    mqtt = link(homeassistant={"discovery": False})
    mqtt.put(wire.camera_status(LAB, 1.0))
    assert mqtt.configs == {}


def test_put_never_waits() -> None:
    mqtt = link(queue_size=100)
    out = wire.camera_status(LAB, 1.0)
    began = time.perf_counter()
    for _ in range(5000):
        mqtt.put(out)
    assert time.perf_counter() - began < 2.0
    assert len(mqtt.events) == 100


# --- webhooks ------------------------------------------------------------------------


class FakeClient:
    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.sent: list[tuple[bytes, Mapping[str, str]]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        body: bytes,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        self.sent.append((body, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return HttpResponse(answer, {}, b"")

    async def close(self) -> None:
        pass


def delivery(changed: list[int], **cfg: Any) -> Delivery:
    settings = WebhooksConfig(targets=[{"url": "http://127.0.0.1:9/hook", "secret": SECRET}], **cfg)
    return Delivery(
        settings.targets[0], settings, "hub1", lambda: changed.append(1), clock=lambda: 1000.0
    )


def test_https_targets_are_accepted() -> None:
    cfg = WebhooksConfig.model_validate(
        {"targets": [{"url": "https://hooks.example/x?a=1", "secret": SECRET}]}
    )
    d = Delivery(cfg.targets[0], cfg, "hub1", lambda: None)
    assert d.path == "/x?a=1" and d.where == "https://hooks.example/x"
    assert repr(d.client) == "HttpClient(https://hooks.example:443)"


def test_queue_is_bounded_oldest_dropped() -> None:
    d = delivery([], queue_size=3)
    outs = [wire.availability(f"n{i}", True, 1.0) for i in range(5)]
    for out in outs:
        d.put(out)
    assert list(d.queue) == outs[2:] and d.dropped == 2


@pytest.mark.parametrize(
    ("answer", "done", "counter"),
    [
        (204, True, "delivered"),
        (200, True, "delivered"),
        (404, True, "rejected"),
        (400, True, "rejected"),
        (429, False, "failures"),
        (408, False, "failures"),
        (500, False, "failures"),
        (503, False, "failures"),
        (HttpTimeout("no response"), False, "failures"),
    ],
)
async def test_outcome_of_each_answer(answer: int | Exception, done: bool, counter: str) -> None:
    d = delivery([])
    client = FakeClient([answer])
    d.client = client
    assert await d._attempt(wire.availability("hub1", True, 1.0)) is done
    assert getattr(d, counter) == 1
    assert bool(d.error) is (not done)


async def test_each_attempt_is_signed_at_send_time() -> None:
    d = delivery([])
    client = FakeClient([204])
    d.client = client
    await d._attempt(wire.availability("hub1", True, 1.0))
    [(body, headers)] = client.sent
    assert headers[signing.TIMESTAMP_HEADER] == "1000"
    assert signing.verify(SECRET.encode(), body, headers[signing.SIGNATURE_HEADER], "1000", 1000.0)
    assert headers[signing.EVENT_HEADER] == "service.availability"


def test_backoff_doubles_and_is_capped() -> None:
    d = delivery([], retry_initial=1.0, retry_max=8.0)
    delays = [d.schedule.next_delay(False) for _ in range(8)]
    for got, nominal in zip(delays, [1, 2, 4, 8, 8, 8, 8, 8], strict=True):
        assert nominal * 0.9 <= got <= nominal
    assert d.schedule.next_delay(True) == 8.0  # success: the steady state
    assert d.schedule.next_delay(False) <= 1.0  # and the backoff starts over


async def test_health_degrades_with_a_failing_target_and_recovers() -> None:
    health = Health()
    cfg = WebhooksConfig(
        targets=[
            WebhookTarget.model_validate({"url": "http://127.0.0.1:9/a", "secret": SECRET}),
            WebhookTarget.model_validate({"url": "http://127.0.0.1:9/b", "secret": SECRET}),
        ]
    )
    hooks = Webhooks(cfg, "hub1", health.register("webhooks", critical=False))
    a = hooks.targets[0]
    a.client = FakeClient([500, 204])
    out = wire.availability("hub1", True, 1.0)
    await a._attempt(out)
    state = health.components["webhooks"]
    assert state.status is Status.DEGRADED and "1 of 2" in state.reason and "/a" in state.reason
    assert health.overall() is Status.DEGRADED  # not critical
    await a._attempt(out)
    assert health.components["webhooks"].status.value == "healthy"
