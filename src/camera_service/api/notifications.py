"""Domain events become client notifications (api.md §5).

Topics that are already notifications go out as published; camera events become
``camera_status_update``. Each notification is serialized and framed once (per
distinct client host when it carries stream URLs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from camera_service.api.jsonrpc import notification
from camera_service.api.session import NOTIFICATION_TOPICS
from camera_service.api.websocket import WebSocketServer
from camera_service.cameras.model import Camera, CameraStatus, stream_urls
from camera_service.config import MediaMtxConfig
from camera_service.net.wsframes import text_frame
from camera_service.observability.metrics import Metrics

CAMERA_EVENTS = ("camera.added", "camera.changed", "camera.removed")


def camera_status(camera: Camera, streams: dict[str, str]) -> dict[str, Any]:
    api = camera.to_api(streams)
    return {
        k: api[k] for k in ("device", "status", "name", "resolution", "fps", "streams", "camera_id")
    }


class Notifier:
    def __init__(
        self, ws: WebSocketServer, metrics: Metrics, mediamtx: Callable[[], MediaMtxConfig]
    ) -> None:
        self.ws = ws
        self.metrics = metrics
        self.mediamtx = mediamtx

    def __call__(self, topic: str, payload: dict[str, Any]) -> None:
        began = time.perf_counter()
        if topic in NOTIFICATION_TOPICS:
            self._send(topic, text_frame(notification(topic, payload)), began)
        elif topic in CAMERA_EVENTS:
            camera: Camera = payload["camera"]
            if topic == "camera.removed" and camera.connected:
                camera = Camera(
                    camera.camera_id, camera.source_type, camera.name, CameraStatus.DISCONNECTED
                )
            self._send("camera_status_update", self._camera_frame(camera), began)

    def _camera_frame(self, camera: Camera) -> Callable[[str], bytes]:
        cfg = self.mediamtx()

        def frame(host: str) -> bytes:
            streams = stream_urls(camera.camera_id, host, cfg)
            params = camera_status(camera, streams)
            return text_frame(notification("camera_status_update", params))

        return frame

    def _send(self, topic: str, frame: bytes | Callable[[str], bytes], began: float) -> None:
        sent, dropped = self.ws.broadcast(topic, frame)
        self.metrics.notification_done(time.perf_counter() - began, sent, dropped)
