"""HTTP on the health port: liveness, readiness, component health, Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from camera_service.observability.health import HealthRegistry, Status, iso
from camera_service.observability.metrics import Metrics

# /health/<alias> -> the component it reports.
COMPONENT_ALIASES = {"cameras": "camera_monitor", "mediamtx": "mediamtx"}
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def health_routes(
    health: HealthRegistry,
    metrics: Metrics,
    is_ready: Callable[[], tuple[bool, str]],
    extra_metrics: Callable[[], dict[str, float]] = dict,
) -> list[web.RouteDef]:
    async def live(request: web.Request) -> web.Response:
        # Answering at all proves the event loop is turning.
        return web.json_response({"status": "alive", "timestamp": iso(time.time())})

    async def ready(request: web.Request) -> web.Response:
        ok, why = is_ready()
        now = iso(time.time())
        if ok:
            return web.json_response({"status": "ready", "timestamp": now})
        body = {"status": "not_ready", "timestamp": now, "details": {"reason": why}}
        return web.json_response(body, status=503)

    async def system(request: web.Request) -> web.Response:
        overall = health.overall()
        body = {
            "status": overall.value,
            "timestamp": iso(time.time()),
            "components": health.snapshot(),
        }
        return web.json_response(body, status=503 if overall is Status.UNHEALTHY else 200)

    async def component(request: web.Request) -> web.Response:
        alias = request.match_info["name"]
        state = health.components.get(COMPONENT_ALIASES.get(alias, alias))
        if state is None:
            body = {
                "status": "unknown",
                "timestamp": iso(time.time()),
                "details": {"reason": f"no component {alias!r} is running"},
            }
            return web.json_response(body, status=404)
        d = state.to_dict()
        return web.json_response(d, status=503 if state.status is Status.UNHEALTHY else 200)

    async def prometheus(request: web.Request) -> web.Response:
        text = metrics.render(extra_metrics())
        return web.Response(text=text, headers={"Content-Type": PROMETHEUS_TYPE})

    return [
        web.get("/health/live", live),
        web.get("/health/ready", ready),
        web.get("/health/system", system),
        web.get("/health/{name}", component),
        web.get("/metrics", prometheus),
    ]
