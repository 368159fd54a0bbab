"""Events and state to an MQTT broker, Home Assistant discovery, and the recording
switch's commands back (docs/integrations.md).

The link keeps the *state* apart from the *events*: the latest payload of every
retained state topic is held here (one per topic, never dropped) and marked dirty
when it changes; events wait in a bounded queue (oldest dropped, counted). On every
connection the link publishes ``online`` on its status topic (the last will says
``offline``), the discovery configs, and every state topic again: a broker that lost
its retained messages, or was down while state changed, has all of it once back.

``aiomqtt`` is imported only when a link is made: a service without MQTT pays no
memory for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from camera_service.config import MqttConfig
from camera_service.observability.health import ComponentHealth, Status, iso
from camera_service.retry import RetrySchedule
from camera_service.storage.disk import StorageStatus

from . import wire
from .wire import Discovery, Outgoing, Topics

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

QOS = 1  # state, events and commands: at least once
STOP_FLUSH = 2.0  # seconds a clean stop waits for what is queued to reach the broker


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    error: str = ""
    code: int | None = None  # the API's error code, when it refused


class Commands(Protocol):
    """Operator actions, run through the API's rules (role, camera scope, limits)."""

    async def set_recording(self, camera_id: str, on: bool) -> CommandResult: ...


class MqttLink:
    def __init__(
        self,
        cfg: MqttConfig,
        node: str,
        version: str,
        health: ComponentHealth,
        *,
        snapshots: Path,
        storage: Callable[[], StorageStatus | None],
        commands: Commands | None,
    ) -> None:
        self.cfg = cfg
        self.node = node
        self.topics = Topics(cfg.topic_prefix, node)
        self.health = health
        self.snapshots = snapshots
        self.storage = storage
        self.commands = commands
        ha = cfg.homeassistant
        self.discovery = (
            Discovery(ha.prefix, node, self.topics, version, commands is not None)
            if ha.discovery
            else None
        )
        # topic -> payload; insertion order is publish order on a reconnect.
        self.state: dict[str, bytes] = {}
        self.dirty: dict[str, None] = {}  # state topics not yet on this connection
        self.configs: dict[str, bytes] = {}  # discovery config topic -> config
        self.configs_dirty: dict[str, None] = {}
        self.events: deque[tuple[str, bytes]] = deque()
        self.images: dict[str, str] = {}  # camera id -> snapshot to put on its image topic
        self.dropped = 0  # events dropped because the queue was full
        self.published = 0
        self.commands_run = 0
        self.commands_refused = 0
        self.connected = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._schedule = RetrySchedule(cfg.retry_max, cfg.retry_max, initial_backoff=0.5)
        if self.discovery is not None:
            self._set_configs(wire.hub_discovery(self.discovery))

    # --- from the bus (never waits) ---------------------------------------------------

    def put(self, out: Outgoing) -> None:
        for topic, payload in wire.retained_state(self.topics, out):
            self._set_state(topic, payload)
        cam = out.camera_id
        if out.kind == wire.CAMERA_STATUS and out.camera is not None and cam is not None:
            recording = self.topics.camera(cam, "recording")
            if recording not in self.state:  # known from now on, even before a recording
                state = wire.ON if out.camera.recording else wire.OFF
                self._set_state(recording, {"camera_id": cam, "state": state})
            if self.discovery is not None:
                self._set_configs(wire.camera_discovery(self.discovery, out.camera))
        elif out.kind == wire.CAMERA_REMOVED and cam is not None:
            self.images.pop(cam, None)
            if self.discovery is not None:
                topics = wire.camera_discovery_topics(self.discovery, cam)
                self._set_configs([(t, b"") for t in topics])
        elif out.kind == wire.SNAPSHOT_TAKEN and cam is not None and out.snapshot:
            self.images[cam] = out.snapshot
        self._event(orjson.dumps(wire.envelope(self.node, out)))
        self._wake.set()

    def _event(self, payload: bytes, topic: str | None = None) -> None:
        if len(self.events) >= self.cfg.queue_size:
            self.events.popleft()
            self.dropped += 1
        self.events.append((topic or self.topics.events, payload))

    def _set_state(self, topic: str, payload: bytes | dict[str, Any]) -> None:
        self.state[topic] = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self.dirty[topic] = None

    def _set_configs(self, configs: Iterable[tuple[str, bytes | dict[str, Any]]]) -> None:
        for topic, config in configs:
            payload = config if isinstance(config, bytes) else orjson.dumps(config)
            if self.configs.get(topic) != payload:
                self.configs[topic] = payload
                self.configs_dirty[topic] = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt")

    async def stop(self) -> None:
        """Publish what is queued and ``offline`` (bounded), then disconnect cleanly."""
        self._stopping = True
        self._wake.set()
        for task in list(self._running):
            task.cancel()
        if self._task is None:
            return
        try:
            async with asyncio.timeout(STOP_FLUSH):  # not wait_for: it can lose a cancel
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        import aiomqtt

        while not self._stopping:
            try:
                await self._connection(aiomqtt)
                return  # stopped
            except (aiomqtt.MqttError, OSError) as exc:
                self._lost(str(exc) or type(exc).__name__)
            delay = self._schedule.next_delay(False)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop_requested()

    async def _stop_requested(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    def _lost(self, reason: str) -> None:
        if self.connected:
            log.warning("MQTT broker connection lost", extra={"error": reason})
        self.connected = False
        self.health.set(
            Status.DEGRADED,
            f"broker {self.cfg.host}:{self.cfg.port} unreachable: {reason}",
            queued_events=len(self.events),
            dropped_events=self.dropped,
        )

    async def _connection(self, aiomqtt: Any) -> None:
        t = self.topics
        password = self.cfg.password.get_secret_value() if self.cfg.password else None
        client = aiomqtt.Client(
            self.cfg.host,
            self.cfg.port,
            username=self.cfg.username,
            password=password,
            identifier=f"camera-service-{self.node}",
            will=aiomqtt.Will(t.status, wire.OFFLINE.encode(), qos=QOS, retain=True),
            keepalive=self.cfg.keepalive,
            timeout=10.0,
        )
        async with client:
            self._schedule.next_delay(True)
            # Everything again: the broker may have lost it, or missed changes.
            self.dirty = dict.fromkeys(self.state)
            self.configs_dirty = dict.fromkeys(self.configs)
            self._seed_storage()
            await client.publish(t.status, wire.ONLINE.encode(), qos=QOS, retain=True)
            await client.subscribe(t.commands, qos=QOS)
            if self.discovery is not None:
                await client.subscribe(f"{self.discovery.prefix}/status", qos=QOS)
            self.connected = True
            self.health.set(Status.HEALTHY, broker=f"{self.cfg.host}:{self.cfg.port}")
            log.info("MQTT broker connected", extra={"broker": f"{self.cfg.host}:{self.cfg.port}"})
            reader = asyncio.get_running_loop().create_task(self._read(client), name="mqtt-in")
            try:
                await self._write(client, reader)
                # A clean stop: the will is not sent, so say it here.
                await client.publish(t.status, wire.OFFLINE.encode(), qos=QOS, retain=True)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader
        self.connected = False

    def _seed_storage(self) -> None:
        if self.topics.storage not in self.state and (status := self.storage()) is not None:
            self._set_state(self.topics.storage, wire.storage_level(status).data)

    async def _write(self, client: aiomqtt.Client, reader: asyncio.Task[None]) -> None:
        while True:
            self._wake.clear()
            await self._flush(client)
            if self._stopping:
                return
            wake = asyncio.get_running_loop().create_task(self._wake.wait())
            done, _ = await asyncio.wait({wake, reader}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            if reader in done:
                reader.result()  # raises the broker's error
                raise ConnectionError("MQTT reader stopped")

    async def _flush(self, client: aiomqtt.Client) -> None:
        """Configs, then state, then events; each leaves its queue only once the broker
        has it (QoS 1), so a connection lost half-way loses nothing."""
        await self._read_images()
        while self.configs_dirty:
            topic = next(iter(self.configs_dirty))
            config = self.configs[topic]
            await client.publish(topic, config, qos=QOS, retain=True)
            if self.configs.get(topic) is config:  # not replaced meanwhile
                self.configs_dirty.pop(topic, None)
                if not config:
                    del self.configs[topic]  # a removal, done: nothing to say on a reconnect
        while self.dirty:
            topic = next(iter(self.dirty))
            payload = self.state[topic]
            await client.publish(topic, payload, qos=QOS, retain=True)
            self.published += 1
            if self.state.get(topic) is payload:
                self.dirty.pop(topic, None)
                if not payload:
                    del self.state[topic]
        while self.events:
            topic, payload = self.events[0]
            await client.publish(topic, payload, qos=QOS, retain=False)
            self.published += 1
            if self.events and self.events[0][1] is payload:
                self.events.popleft()

    async def _read_images(self) -> None:
        limit = self.cfg.snapshot_image_max_bytes
        while self.images:
            cam, filename = self.images.popitem()
            path = self.snapshots / Path(filename).name
            try:
                size = path.stat().st_size
                data = await asyncio.to_thread(path.read_bytes) if 0 < size <= limit else None
            except OSError:
                data = None
            if data is not None:
                self._set_state(self.topics.camera(cam, "image"), data)

    async def _read(self, client: aiomqtt.Client) -> None:
        ha_status = None if self.discovery is None else f"{self.discovery.prefix}/status"
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic == ha_status:
                if payload.strip() == wire.ONLINE.encode():  # Home Assistant restarted
                    self.configs_dirty = dict.fromkeys(self.configs)
                    self.dirty = dict.fromkeys(self.state)
                    self._wake.set()
                continue
            camera_id = self.topics.command_camera(topic)
            if camera_id is not None:
                task = asyncio.get_running_loop().create_task(self._command(camera_id, payload))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _command(self, camera_id: str, payload: bytes) -> None:
        on = wire.parse_command(payload)
        if on is None:
            result = CommandResult(False, "payload must be ON or OFF")
        elif self.commands is None:
            result = CommandResult(False, "commands are disabled: mqtt.command_api_key is unset")
        else:
            result = await self.commands.set_recording(camera_id, on)
        if result.ok:
            self.commands_run += 1
        else:
            self.commands_refused += 1
            log.warning(
                "MQTT command refused", extra={"camera_id": camera_id, "error": result.error}
            )
        body = {"camera_id": camera_id, "ok": result.ok, "error": result.error, "code": result.code}
        body["timestamp"] = iso(time.time())
        self._event(orjson.dumps(body), self.topics.camera(camera_id, "recording/result"))
        self._wake.set()
