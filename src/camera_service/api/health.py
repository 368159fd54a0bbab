"""HTTP on the health port: liveness, readiness, component health, Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

from camera_service.net.httpserver import HttpRequest, Response, Router, json_response
from camera_service.observability.health import Health, Status, iso
from camera_service.observability.metrics import Metrics

# /health/<alias> -> the component it reports.
COMPONENT_ALIASES = {"cameras": "camera_monitor", "mediamtx": "mediamtx"}
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def add_health_routes(
    router: Router,
    health: Health,
    metrics: Metrics,
    is_ready: Callable[[], tuple[bool, str]],
    extra_metrics: Callable[[], dict[str, float]] = dict,
    capacity: Callable[[], dict[str, dict[str, int]]] | None = None,
) -> None:
    async def live(request: HttpRequest) -> Response:
        # Answering at all proves the event loop is turning.
        return json_response({"status": "alive", "timestamp": iso(time.time())})

    async def ready(request: HttpRequest) -> Response:
        ok, why = is_ready()
        now = iso(time.time())
        if ok:
            return json_response({"status": "ready", "timestamp": now})
        return json_response(
            {"status": "not_ready", "timestamp": now, "details": {"reason": why}}, 503
        )

    async def system(request: HttpRequest) -> Response:
        overall = health.overall()
        body = {
            "status": overall.value,
            "timestamp": iso(time.time()),
            "components": health.snapshot(),
        }
        if capacity is not None:
            body["capacity"] = capacity()  # [new] {resource: {limit, active, free}}
        return json_response(body, 503 if overall is Status.UNHEALTHY else 200)

    async def component(request: HttpRequest) -> Response:
        alias = request.path.removeprefix("/health/")
        state = health.components.get(COMPONENT_ALIASES.get(alias, alias))
        if state is None:
            body = {
                "status": "unknown",
                "timestamp": iso(time.time()),
                "details": {"reason": f"no component {alias!r} is running"},
            }
            return json_response(body, 404)
        return json_response(state.to_dict(), 503 if state.status is Status.UNHEALTHY else 200)

    async def prometheus(request: HttpRequest) -> Response:
        text = metrics.render(extra_metrics())
        return Response(200, text.encode(), PROMETHEUS_TYPE)

    router.add("/health/live", live)
    router.add("/health/ready", ready)
    router.add("/health/system", system)
    router.add_prefix("/health/", component)
    router.add("/metrics", prometheus)
