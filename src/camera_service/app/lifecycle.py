"""Starting and stopping the parts, through one ``AsyncExitStack``.

Each part's stop enters the stack as the part starts, so unwinding the stack stops
everything in the reverse order of the start, and a start that fails half-way stops
exactly what had started. The drain's steps (stop accepting, deregister, let requests
finish, finalize recordings) are entered last, so they run first; see :func:`start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import resource
import secrets
import ssl
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any, ParamSpec

from camera_service.auth.jwt import load_or_create_secret
from camera_service.config import Settings
from camera_service.db import AsyncDatabase
from camera_service.dirs import DataDirs
from camera_service.libc import process_libc
from camera_service.media.access import InternalCredential
from camera_service.observability.health import Status
from camera_service.record.hooks import new_token

from .build import Components, Resources
from .parts import HOOK_TOKEN

log = logging.getLogger("camera_service")
P = ParamSpec("P")

HOUSEKEEPING_PERIOD = 1.0
RECORDING_SHUTDOWN_TIMEOUT = 10.0  # seconds for the last segments to be completed
DEREGISTER_TIMEOUT = 3.0  # past it the lease (or the aggregator's expiry) cleans up


async def open_resources(settings: Settings, paths: DataDirs, stack: AsyncExitStack) -> Resources:
    """Create the data dirs, open the database (a corrupt one is moved aside), load the
    secrets."""
    paths.create()
    if paths.fell_back:
        log.info(
            "no storage.data_dir and no installed system data dir: using the per-user one",
            extra={"data_dir": str(paths.data_dir)},
        )
    _raise_fd_limit()
    executor = ThreadPoolExecutor(settings.resources.executor_workers, thread_name_prefix="probe")
    on_stop(stack, executor.shutdown, wait=False, cancel_futures=True)
    db, recovery = await AsyncDatabase.open_or_recover(paths.database)
    on_stop(stack, db.close)
    secret, source = load_or_create_secret(settings, paths)
    if source == "file":
        log.info("JWT secret loaded from data dir", extra={"path": str(paths.jwt_secret)})
    token = new_token(paths.data_dir / HOOK_TOKEN)
    # Media credentials, new every run and held in memory only: the service's own media
    # clients present the first; a MediaMTX off loopback presents the second.
    internal, media_secret = InternalCredential(), secrets.token_urlsafe(32)
    return Resources(paths, executor, db, recovery, secret, token, internal, media_secret)


async def start(c: Components, stack: AsyncExitStack) -> None:
    """Start the parts in dependency order, each entering its stop into ``stack``."""
    on_stop(stack, _flush_keys_and_audit, c)  # before the database closes
    await c.store.index.start()
    on_stop(stack, c.store.index.stop)
    await c.media.retention.start()
    on_stop(stack, c.media.retention.stop)
    c.store.disk.start()
    on_stop(stack, c.store.disk.stop)
    # The first port: probes see "starting" at once, and MediaMTX's segment hooks arrive
    # here until the recordings are final, late in the drain.
    await c.front.health_port.start()
    on_stop(stack, c.front.health_port.close)
    # Events out start before the parts that publish, and stop after them: the last
    # recordings' STOPPED still reach the broker and the webhooks.
    c.events_out.start()
    on_stop(stack, c.events_out.stop)
    await c.media.sources.load()  # served from the monitor's first look on
    await c.media.monitor.start()
    on_stop(stack, c.media.monitor.stop)
    if c.media.assignments is not None:
        on_stop(stack, c.media.assignments.client.close)
        background(stack, c.media.assignments.run(), "device-assignments")
    if c.media.managed is not None:
        await c.media.managed.start()
        on_stop(stack, c.media.managed.stop)  # after the controller's
    # Sessions a crash interrupted are taken up before the controller's first
    # reconcile: it applies their desired state, not "record off".
    await c.media.recordings.restore()
    on_stop(stack, c.media.recordings.close)
    await c.media.controller.start()
    on_stop(stack, c.media.controller.stop)
    c.media.grabbers.start()
    on_stop(stack, c.media.grabbers.stop)  # before the controller's
    on_stop(stack, c.media.viewing.stop)  # before the controller's
    background(stack, _housekeeping(c), "housekeeping")
    # After the cameras: a scan's result can be added at once.
    await c.media.discovery.start()
    on_stop(stack, c.media.discovery.stop)
    # The last port: clients connect once everything they can ask about is running.
    await c.front.api_port.start(_tls_context(c.live()))
    on_stop(stack, c.front.api_port.close)
    c.front.ws.start()
    on_stop(stack, c.front.ws.close_all)  # 1001 to every client
    # The drain. These steps run first as the stack unwinds, in the reverse of the lines
    # below, and are the exceptions to "the reverse of the start": they have no start of
    # their own, or (the API port) are split from the part's stop.
    #   1. The API port stops listening; the health port answers 503 until the end.
    #   2. Deregister, so the platform sends no one here while we drain.
    #   3. In-flight requests finish (server.shutdown_timeout).
    #   4. Recordings are finalized: their last segment hooks reach the health port,
    #      and clients, still connected, hear STOPPED.
    # Then the WebSockets close (1001) and the parts above stop.
    on_stop(stack, c.media.recordings.shutdown, RECORDING_SHUTDOWN_TIMEOUT)
    on_stop(stack, _drain_requests, c)
    c.registration.start()
    on_stop(stack, _deregister, c)
    on_stop(stack, _stop_accepting, c)
    c.front.ws_health.set(Status.HEALTHY, port=c.front.api_port.number)


def on_stop(
    stack: AsyncExitStack, step: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs
) -> None:
    """Enter ``step(*args, **kwargs)`` (a function or a coroutine function) into
    ``stack``; a failing step is logged and the stops after it still run."""

    async def run() -> None:
        try:
            done = step(*args, **kwargs)
            if inspect.isawaitable(done):
                await done
        except Exception:
            log.exception("stop step failed", extra={"step": getattr(step, "__qualname__", "")})

    stack.push_async_callback(run)


def background(stack: AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``work`` as a task until the stack unwinds to here."""
    task = asyncio.get_running_loop().create_task(work, name=name)
    on_stop(stack, _cancel, task)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _stop_accepting(c: Components) -> None:
    c.front.ws.accepting = False
    c.front.api_port.stop_listening()


async def _deregister(c: Components) -> None:
    await c.registration.stop(min(c.live().server.shutdown_timeout, DEREGISTER_TIMEOUT))


async def _drain_requests(c: Components) -> None:
    if not await c.front.dispatcher.drain(c.live().server.shutdown_timeout):
        log.warning("in-flight requests cancelled at the shutdown deadline")


async def _flush_keys_and_audit(c: Components) -> None:
    with contextlib.suppress(Exception):
        await c.store.audit.flush()
        await c.db.run(c.store.keys.flush_last_used)
    c.store.keys.close()


async def _housekeeping(c: Components) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(HOUSEKEEPING_PERIOD)
        c.metrics.loop_lag = max(0.0, loop.time() - before - HOUSEKEEPING_PERIOD)
        c.metrics.sample()
        try:
            await c.store.audit.flush()
            await c.db.run(c.store.keys.flush_last_used)
        except Exception:
            log.exception("housekeeping failed")


def _tls_context(s: Settings) -> ssl.SSLContext | None:
    if s.server.tls.cert_file is None or s.server.tls.key_file is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(s.server.tls.cert_file, s.server.tls.key_file)
    return ctx


def release_startup_garbage() -> None:
    """Building the config and params models leaves freed heap behind; hand it back to
    the OS so idle RSS reflects what the service really holds. Then freeze what is
    left: the long-lived startup objects (modules, models, the registry) leave the
    collector's view, so a full collection no longer walks them in the middle of
    serving requests (that walk showed up as latency spikes at 1,000 clients)."""
    gc.collect()
    gc.freeze()
    with contextlib.suppress(OSError, AttributeError):
        process_libc().malloc_trim(0)


M_ARENA_MAX = -8  # glibc's malloc.h


def one_malloc_arena() -> None:
    """Have every thread allocate from glibc's main arena; called before any thread
    starts. Python runs one thread at a time, so arenas per thread buy this service no
    speed, and each keeps its own freed memory: the index's SQLite thread's was 0.3 MB
    of an idle service (issue 20). An operator's ``MALLOC_ARENA_MAX`` wins; a libc
    without ``mallopt`` (musl) keeps its own way."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        process_libc().mallopt(M_ARENA_MAX, 1)


def _raise_fd_limit() -> None:
    """Each WebSocket is a file descriptor; the default soft limit (1024) is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
