"""The registrar: keeps this instance registered with a backend (etcd or the HTTP
aggregator) for as long as the service runs.

One task, one loop. Register (retrying with exponential backoff and jitter), then
refresh every ``backend.refresh_interval()`` seconds, and at once when the
registration document's significant part (health, cameras, steady capacity) changed.
A lost registration (expired lease, aggregator forgot us) is registered again. A clean
stop deregisters; a crash leaves the lease or the aggregator's timeout to clean up.

The registry is never on the API's path: an outage only turns the ``registry`` health
component degraded (non-critical), and the document is built from in-memory state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from camera_service.config import RegistryConfig
from camera_service.observability.health import ComponentHealth, Status
from camera_service.registration.backend import RegistrationLost, RegistryBackend, RegistryError
from camera_service.registration.document import significant
from camera_service.retry import RetrySchedule

log = logging.getLogger(__name__)

Outcome = Literal["ok", "lost", "failed"]
COALESCE = 0.05  # a change rarely comes alone (camera + health + capacity): push once


class Registrar:
    def __init__(
        self,
        backend: RegistryBackend,
        document: Callable[[], dict[str, Any]],
        health: ComponentHealth,
        retry_max: float = 30.0,
    ) -> None:
        self.backend = backend
        self.document = document
        self.health = health
        self.retry_max = retry_max
        self.registered = False
        self._registering = False  # a register call under way (see _step)
        self._pushed: tuple[Any, ...] | None = None  # significant part the registry holds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="registrar")

    def changed(self, event: object = None) -> None:
        """Something the document shows may have changed (``event``, if a bus says so):
        push it if it did."""
        self._wake.set()

    async def stop(self, timeout: float) -> None:
        """Stop refreshing; deregister (bounded by ``timeout``) if registered."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout)  # the stop must not hang on it
        try:
            if self.registered or self._registering:
                async with asyncio.timeout(timeout):
                    await self.backend.deregister()
                self.registered = False
                log.info("deregistered", extra={"registry": self.backend.name})
        except (RegistryError, TimeoutError) as exc:
            log.warning(
                "deregistration failed; the registry will expire this instance",
                extra={"registry": self.backend.name, "error": str(exc) or "timed out"},
            )
        finally:
            await self.backend.close()

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        schedule = RetrySchedule(self.backend.refresh_interval(), self.retry_max)
        while True:
            outcome = await self._step()
            if outcome == "lost":
                # The registry is up and only forgot us: register again at once.
                outcome = await self._step()
            ok = outcome == "ok"
            await self._wait(schedule.next_delay(ok), wake_early=ok)

    async def _step(self) -> Outcome:
        """One register or refresh: "ok" when the registry holds the current document."""
        document = self.document()
        mark = significant(document)
        name = self.backend.name
        try:
            if not self.registered:
                # Left True when a stop cancels the call: the registry may hold us all
                # the same (the write went out), so the stop deregisters.
                self._registering = True
                await self.backend.register(document)
                self._registering = False
                self.registered = True
                log.info(
                    "registered",
                    extra={"registry": name, "instance_id": document.get("instance_id")},
                )
            else:
                await self.backend.refresh(document, mark != self._pushed)
        except RegistrationLost as exc:
            self.registered = self._registering = False
            log.warning("registration lost; registering again", extra={"registry": name})
            self.health.set(Status.DEGRADED, f"registration lost: {exc}", backend=name)
            return "lost"
        except RegistryError as exc:
            self._registering = False
            log.warning("registry unreachable", extra={"registry": name, "error": str(exc)})
            self.health.set(Status.DEGRADED, f"{name} registry unreachable: {exc}", backend=name)
            return "failed"
        except Exception as exc:  # a bug must not end the registration for good
            self._registering = False
            log.exception("registration step failed", extra={"registry": name})
            self.health.set(Status.DEGRADED, f"registration failed: {type(exc).__name__}")
            return "failed"
        self._pushed = mark
        self.health.set(Status.HEALTHY, backend=name, registered=True)
        return "ok"

    async def _wait(self, delay: float, wake_early: bool) -> None:
        """Sleep ``delay``; while registered, cut it short when the significant part of
        the document changed, also while the last step was under way (so the check
        comes before waiting, not only after a wake-up). While failing, changes wait for
        the backoff: retrying faster would only hammer a registry that is down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (left := deadline - loop.time()) > 0:
            self._wake.clear()
            if wake_early and significant(self.document()) != self._pushed:
                await asyncio.sleep(COALESCE)
                return
            # asyncio.timeout, not wait_for: on 3.11, wait_for returns normally when it
            # is cancelled just as the event is set (a stop during a health change),
            # and this loop would then never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._wake.wait()


def backend_for(cfg: RegistryConfig, instance_id: str) -> RegistryBackend | None:
    """The configured backend, or None. Imported here, lazily: a hub without a registry
    pays no memory for one."""
    if cfg.backend == "etcd":
        from camera_service.net.etcd import EtcdClient
        from camera_service.registration.etcd_backend import EtcdBackend

        return EtcdBackend(EtcdClient(cfg.endpoints), cfg.prefix + instance_id, cfg.ttl)
    if cfg.backend == "http":
        from camera_service.registration.aggregator import AggregatorBackend

        assert cfg.url is not None  # the config model requires it for "http"
        token = cfg.token.get_secret_value() if cfg.token is not None else None
        return AggregatorBackend(cfg.url, cfg.heartbeat_interval, token)
    return None
