"""Events POSTed to configured URLs as signed JSON (docs/integrations.md).

Each target has its own bounded queue and one sender task, so a slow or dead receiver
holds up only its own deliveries, in order: never the event bus, the API or another
target. A failed delivery (no answer, 5xx, 408, 429) is retried, the same event first,
after a backoff that doubles up to ``webhooks.retry_max``; a receiver that refuses an
event (any other 4xx) has had it. When a queue is full the oldest event is dropped and
counted (``camera_service_webhook_dropped_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

import orjson

from camera_service.config import WebhooksConfig, WebhookTarget
from camera_service.net.httpclient import HttpClient, HttpError, HttpResponse
from camera_service.observability.health import ComponentHealth, Status
from camera_service.retry import RetrySchedule

from . import signing, wire
from .wire import Outgoing

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 429})  # 4xx answers that mean "later", not "no"
STOP_FLUSH = 2.0  # seconds a stop waits for queued deliveries


class Poster(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        body: bytes,
        headers: Mapping[str, str],
    ) -> HttpResponse: ...

    async def close(self) -> None: ...


class Delivery:
    """One target: its queue, its client and its sender task."""

    def __init__(
        self,
        target: WebhookTarget,
        cfg: WebhooksConfig,
        node: str,
        changed: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(target.url)
        self.where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # for logs and health
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        base = f"{parts.scheme}://{parts.netloc}"
        self.client: Poster = HttpClient(base, cfg.timeout, max_connections=1, https=True)
        self.secret = target.secret.get_secret_value().encode()
        self.cfg = cfg
        self.node = node
        self.changed = changed
        self.clock = clock
        self.queue: deque[Outgoing] = deque()
        self.schedule = RetrySchedule(
            cfg.retry_max, cfg.retry_max, initial_backoff=cfg.retry_initial, jitter=0.1
        )
        self.delivered = 0
        self.failures = 0  # attempts that failed (each retried)
        self.rejected = 0  # events the receiver refused (4xx): not retried
        self.dropped = 0  # events dropped from a full queue
        self.error = ""  # the last failure, while failing
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()  # set while the queue is empty
        self.idle.set()

    def put(self, out: Outgoing) -> None:
        if len(self.queue) >= self.cfg.queue_size:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(out)
        self.idle.clear()
        self._wake.set()

    def body(self, out: Outgoing) -> bytes:
        return orjson.dumps(wire.envelope(self.node, out))

    def headers(self, out: Outgoing, body: bytes) -> dict[str, str]:
        ts = int(self.clock())
        return {
            signing.SIGNATURE_HEADER: signing.signature(self.secret, ts, body),
            signing.TIMESTAMP_HEADER: str(ts),
            signing.EVENT_HEADER: out.kind,
            signing.DELIVERY_HEADER: out.event_id,
        }

    async def run(self) -> None:
        while True:
            while not self.queue:
                self.idle.set()
                self._wake.clear()
                await self._wake.wait()
            out = self.queue[0]
            ok = await self._attempt(out)
            if ok and self.queue and self.queue[0] is out:
                self.queue.popleft()
            if ok:
                self.schedule.next_delay(True)
                continue
            await asyncio.sleep(self.schedule.next_delay(False))

    async def _attempt(self, out: Outgoing) -> bool:
        """True: done with the event (delivered, or refused for good)."""
        body = self.body(out)
        try:
            reply = await self.client.request(
                "POST", self.path, body=body, headers=self.headers(out, body), idempotent=True
            )
        except HttpError as exc:
            return self._failed(str(exc))
        if 200 <= reply.status < 300:
            self.delivered += 1
            self._ok()
            return True
        if 400 <= reply.status < 500 and reply.status not in RETRYABLE:
            self.rejected += 1
            log.warning(
                "webhook refused an event; not retried",
                extra={"url": self.where, "status": reply.status, "event": out.kind},
            )
            self._ok()
            return True
        return self._failed(f"HTTP {reply.status}")

    def _ok(self) -> None:
        if self.error:
            log.info("webhook reachable again", extra={"url": self.where})
            self.error = ""
            self.changed()

    def _failed(self, error: str) -> bool:
        self.failures += 1
        if not self.error:
            log.warning(
                "webhook delivery failed; retrying", extra={"url": self.where, "error": error}
            )
        if error != self.error:
            self.error = error
            self.changed()
        return False


class Webhooks:
    """Every target, and the ``webhooks`` health component they share."""

    def __init__(self, cfg: WebhooksConfig, node: str, health: ComponentHealth) -> None:
        self.health = health
        self.targets = [Delivery(t, cfg, node, self._changed) for t in cfg.targets]
        self._tasks: list[asyncio.Task[None]] = []

    def put(self, out: Outgoing) -> None:
        for target in self.targets:
            target.put(out)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(t.run(), name="webhook") for t in self.targets]

    async def stop(self) -> None:
        """Give queued deliveries a moment (bounded), then stop."""
        reachable = [t.idle.wait() for t in self.targets if not t.error]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_FLUSH):  # not wait_for: it can lose a cancel
                await asyncio.gather(*reachable)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for target in self.targets:
            await target.client.close()

    def _changed(self) -> None:
        failing = [t for t in self.targets if t.error]
        if not failing:
            self.health.set(Status.HEALTHY, targets=len(self.targets))
            return
        first = failing[0]
        self.health.set(
            Status.DEGRADED,
            f"{len(failing)} of {len(self.targets)} webhook targets failing; "
            f"{first.where}: {first.error}",
            queued=sum(len(t.queue) for t in self.targets),
        )

    def total(self, what: str) -> int:
        return sum(int(getattr(t, what)) for t in self.targets)
