"""Events out, assembled: the MQTT link and the webhooks from the settings, their
health components and meters, and the bridge that runs MQTT commands through the API.

A command from MQTT (the Home Assistant recording switch) is a JSON-RPC request to the
same dispatcher a WebSocket client talks to, on a session of its own that presents
``mqtt.command_api_key``: the key's role, camera scope and revocation, the rate limit,
the capacity limits and the audit trail apply exactly as on the API.
"""

from __future__ import annotations

import functools
import itertools
import re
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from camera_service import __version__
from camera_service.api.dispatch import Dispatcher, Pending
from camera_service.api.session import Session
from camera_service.config import MqttConfig, Settings
from camera_service.events import EventBus
from camera_service.observability.health import Health, Status
from camera_service.observability.metrics import Metrics
from camera_service.storage.disk import DiskMonitor

if TYPE_CHECKING:  # imported when configured: an idle service without them loads none
    from camera_service.integrations.events import Sink
    from camera_service.integrations.mqtt import CommandResult, MqttLink
    from camera_service.integrations.webhooks import Webhooks
    from camera_service.integrations.wire import Outgoing


def node_id(cfg: MqttConfig, hostname: str | None = None) -> str:
    """``mqtt.node_id``, or the hostname reduced to what a topic level allows."""
    if cfg.node_id:
        return cfg.node_id
    name = re.sub(r"[^A-Za-z0-9_-]", "_", hostname or socket.gethostname())[:64]
    return name.strip("_") or "camera-service"


class RpcCommands:
    """MQTT commands as API requests (see the module docstring)."""

    def __init__(self, dispatcher: Dispatcher, api_key: str, requests_per_minute: int) -> None:
        self.dispatcher = dispatcher
        self.api_key = api_key
        self.session = Session(requests_per_minute, host="mqtt")
        self._ids = itertools.count(1)

    async def set_recording(self, camera_id: str, on: bool) -> CommandResult:
        from camera_service.integrations.mqtt import CommandResult  # loaded with MQTT

        method = "start_recording" if on else "stop_recording"
        frame = orjson.dumps(
            {
                "jsonrpc": "2.0",
                "id": next(self._ids),
                "method": method,
                "params": {"device": camera_id, "auth_token": self.api_key},
            }
        )
        outcome = self.dispatcher.handle(self.session, frame)
        reply = await outcome.reply if isinstance(outcome, Pending) else outcome
        if reply is None:  # pragma: no cover - a request with an id is always answered
            return CommandResult(False, "no reply")
        answer = orjson.loads(reply)
        error = answer.get("error")
        if error is None:
            return CommandResult(True)
        return CommandResult(False, str(error.get("message", "")), error.get("code"))


def availability(node: str, online: bool) -> Outgoing:
    from camera_service.integrations import wire  # loaded with the webhooks

    return wire.availability(node, online, time.time())


class EventsOut:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        health: Health,
        metrics: Metrics,
        dispatcher: Dispatcher,
        disk: DiskMonitor,
        snapshots: Path,
    ) -> None:
        self.node = node_id(settings.mqtt)
        self.mqtt: MqttLink | None = None
        self.webhooks: Webhooks | None = None
        sinks: list[Sink] = []
        m = settings.mqtt
        if m.enabled:
            from camera_service.integrations.mqtt import MqttLink

            key = m.command_api_key
            commands = (
                None
                if key is None
                else RpcCommands(
                    dispatcher,
                    key.get_secret_value(),
                    settings.security.rate_limit.requests_per_minute,
                )
            )
            mqtt_health = health.register(
                "mqtt", critical=False, status=Status.DEGRADED, reason="connecting"
            )
            self.mqtt = MqttLink(
                m,
                self.node,
                __version__,
                mqtt_health,
                snapshots=snapshots,
                storage=lambda: disk.last,
                commands=commands,
            )
            sinks.append(self.mqtt)
            _mqtt_meters(metrics, self.mqtt)
        if settings.webhooks.targets:
            from camera_service.integrations.webhooks import Webhooks

            self.webhooks = Webhooks(
                settings.webhooks, self.node, health.register("webhooks", critical=False)
            )
            sinks.append(self.webhooks)
            _webhook_meters(metrics, self.webhooks)
        if sinks:
            from camera_service.integrations import events

            events.attach(bus, sinks)

    def start(self) -> None:
        if self.mqtt is not None:
            self.mqtt.start()
        if self.webhooks is not None:
            self.webhooks.start()
            self.webhooks.put(availability(self.node, True))

    async def stop(self) -> None:
        if self.webhooks is not None:
            self.webhooks.put(availability(self.node, False))
            await self.webhooks.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()


def _mqtt_meters(metrics: Metrics, link: MqttLink) -> None:
    metrics.meter(
        "camera_service_mqtt_connected",
        "gauge",
        "1 while the MQTT broker is connected.",
        lambda: float(link.connected),
    )
    metrics.meter(
        "camera_service_mqtt_queued_events",
        "gauge",
        "Events waiting for the MQTT broker.",
        lambda: len(link.events),
    )
    metrics.meter(
        "camera_service_mqtt_dropped_total",
        "counter",
        "Events dropped because the MQTT queue was full (retained state never is).",
        lambda: link.dropped,
    )
    metrics.meter(
        "camera_service_mqtt_commands_refused_total",
        "counter",
        "MQTT commands refused (bad payload, no command key, or the API's rules).",
        lambda: link.commands_refused,
    )


def _webhook_meters(metrics: Metrics, hooks: Webhooks) -> None:
    for what, help_ in (
        ("delivered", "Events a webhook receiver accepted."),
        ("failures", "Webhook attempts that failed (each is retried)."),
        ("rejected", "Events a receiver refused with a 4xx (not retried)."),
        ("dropped", "Events dropped from a full webhook queue."),
    ):
        total = functools.partial(hooks.total, what)
        metrics.meter(f"camera_service_webhook_{what}_total", "counter", help_, total)
    metrics.meter(
        "camera_service_webhook_queued",
        "gauge",
        "Events waiting for webhook delivery.",
        lambda: sum(len(t.queue) for t in hooks.targets),
    )
