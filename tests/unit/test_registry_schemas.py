"""The registry protocol's JSON Schemas accept what the service builds and reject the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.observability.health import Health, Status
from camera_service.registration.document import (
    Instance,
    cameras_summary,
    capabilities_for,
    endpoints_for,
    health_summary,
    registration_document,
)
from camera_service.registration.schemas import SCHEMAS
from tests.conftest import make_settings
from tests.support.aggregator import CAPACITY, example_document, schema_errors


def heartbeat_for(document: dict[str, Any], sequence: int = 1) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "instance_id": document["instance_id"],
        "updated_at": document["updated_at"],
        "sequence": sequence,
        "heartbeat_interval": 10.0,
        "health": document["health"],
        "capacity": document["capacity"],
        "cameras": document["cameras"],
    }


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[name])
    assert SCHEMAS[name]["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_document_the_service_builds_is_valid(tmp_path: Any) -> None:
    health = Health()
    health.register("websocket_server").set(Status.HEALTHY)
    health.register("registry").set(Status.DEGRADED, "aggregator unreachable")
    settings = make_settings(tmp_path, server={"tls": {}})
    instance = Instance(
        "hub-7-8002",
        "0.5.0",
        1_700_000_000.25,
        endpoints_for(settings, "::1", 8002, 8003),
        capabilities_for(["ping", "authenticate", "get_camera_list"], ["json_rpc_2.0"]),
    )
    cams = cameras_summary(
        [
            Camera("camera0", SourceType.USB, "c0", CameraStatus.CONNECTED, recording=True),
            Camera("gate", SourceType.RTSP, "gate", CameraStatus.DISCONNECTED),
        ]
    )
    document = registration_document(
        instance, cams, CAPACITY, health_summary(health), 1_700_000_005.5
    )
    assert schema_errors("registration", document) == []
    assert schema_errors("heartbeat", heartbeat_for(document, 17)) == []


def test_the_example_document_and_its_heartbeat_are_valid() -> None:
    assert schema_errors("registration", example_document()) == []
    assert schema_errors("heartbeat", heartbeat_for(example_document())) == []
    assert schema_errors("error", {"error": {"code": "unknown_instance", "message": "x"}}) == []


def _without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    node = broken
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return broken


def _with(document: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return broken


DOC = example_document()


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (_without(DOC, "instance_id"), "(root)"),
        (_with(DOC, "hub 7/8002", "instance_id"), "instance_id"),
        (_with(DOC, "x" * 129, "instance_id"), "instance_id"),
        (_with(DOC, 2, "schema_version"), "schema_version"),
        (_with(DOC, "other-service", "service"), "service"),
        (_with(DOC, "2026-11-25T10:00:00+01:00", "started_at"), "started_at"),
        (_with(DOC, "2026-11-25 10:00:00Z", "updated_at"), "updated_at"),
        (_with(DOC, "http://hub-7:8002/ws", "endpoints", "ws"), "endpoints/ws"),
        (_without(DOC, "endpoints", "rtsp"), "endpoints"),
        (_with(DOC, [], "capabilities", "methods"), "capabilities/methods"),
        (_with(DOC, ["ping", "ping"], "capabilities", "methods"), "capabilities/methods"),
        (_with(DOC, -1, "cameras", "total"), "cameras/total"),
        (_with(DOC, 1.5, "cameras", "connected"), "cameras/connected"),
        (_with(DOC, {"limit": 8, "active": 1}, "capacity", "streams"), "capacity/streams"),
        (_without(DOC, "capacity", "recordings"), "capacity"),
        (_with(DOC, {"limit": 1, "active": 0, "free": 1}, "capacity", "gpus"), "capacity"),
        (_with(DOC, "fine", "health", "status"), "health/status"),
        (_with(DOC, "ok", "health", "components", "registry"), "health/components/registry"),
        (_with(DOC, "extra", "secret"), "(root)"),
    ],
)
def test_the_registration_schema_rejects_a_broken_document(
    document: dict[str, Any], where: str
) -> None:
    errors = schema_errors("registration", document)
    assert errors, "the broken document was accepted"
    assert any(e.startswith(f"{where}: ") for e in errors), errors


@pytest.mark.parametrize(
    "change",
    [
        {"sequence": 0},
        {"sequence": "3"},
        {"heartbeat_interval": 0},
        {"endpoints": DOC["endpoints"]},  # a heartbeat carries the volatile part only
    ],
)
def test_the_heartbeat_schema_rejects_a_broken_body(change: dict[str, Any]) -> None:
    assert schema_errors("heartbeat", {**heartbeat_for(DOC), **change})
    assert schema_errors("heartbeat", _without(heartbeat_for(DOC), "sequence"))
