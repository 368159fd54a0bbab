"""``rpc.discover``: an OpenRPC 1.x document generated from the method list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import TypeAdapter

from camera_service import __version__
from camera_service.api.jsonrpc import (
    AUTH_REQUIRED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    PERMISSION_DENIED,
    RATE_LIMITED,
)
from camera_service.api.methodtable import Call, MethodSpec, NoParams
from camera_service.api.session import DEFAULT_TOPICS, NOTIFICATION_TOPICS

REF = "#/components/schemas/{model}"

ERROR_MESSAGES: dict[int, str] = {
    -32700: "Parse error",
    -32600: "Invalid Request",
    -32601: "Method not found",
    INVALID_PARAMS: "Invalid params",
    -32603: "Internal error",
    AUTH_REQUIRED: "Authentication required or failed",
    RATE_LIMITED: "Rate limit exceeded",
    PERMISSION_DENIED: "Insufficient permissions",
    -1000: "Camera not found or not connected",
    -1003: "MediaMTX operation failed",
    -1005: "File not found",
    -1006: "Camera is already recording",
    -1008: "Storage low",
    -1010: "Storage critical",
    -1012: "Capacity exceeded",
}


# The notifications (docs/api.md "Notifications"), as the document's ``x-notifications``
# extension: OpenRPC describes calls only.
NOTIFICATION_SUMMARIES: dict[str, str] = {
    "camera_status_update": "A camera appeared, changed or went away: the camera object "
    "as get_camera_status has it, without metrics.",
    "recording_status_update": "A recording started, stopped (with its files) or failed.",
    "snapshot_taken": "A snapshot was saved: take_snapshot's result.",
    "storage_status_update": "The storage level changed (ok, warn, critical), with the "
    "disk figures.",
    "system_status_update": "A health component changed: its status and reason, and the "
    "overall status.",
}


def notifications() -> list[dict[str, Any]]:
    return [
        {
            "name": topic,
            "summary": NOTIFICATION_SUMMARIES[topic],
            "params": {"name": "params", "schema": {"type": "object"}},
            "x-subscribed-by-default": topic in DEFAULT_TOPICS,
        }
        for topic in NOTIFICATION_TOPICS
    ]


class Discovery:
    """The methods given plus ``rpc.discover``, which describes them all (itself
    included); the document is built on the first call."""

    def __init__(self, methods: Sequence[MethodSpec[Any]], version: str = __version__) -> None:
        self.version = version
        spec = MethodSpec(
            "rpc.discover",
            self.discover,
            "OpenRPC document of this API.",
            None,
            NoParams,
            dict[str, Any],
        )
        self.methods: list[MethodSpec[Any]] = [*methods, spec]
        self._document: dict[str, Any] = {}

    def discover(self, call: Call[NoParams]) -> dict[str, Any]:
        if not self._document:
            self._document = openrpc_document(self.methods, self.version)
        return {**self._document, "servers": [_server(call)]}


def openrpc_document(specs: Iterable[MethodSpec[Any]], version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    methods = [_method(spec, schemas) for spec in sorted(specs, key=lambda s: s.name)]
    return {
        "openrpc": "1.3.2",
        "info": {
            "title": "camera-service",
            "version": version,
            "description": "Camera hub control API (JSON-RPC 2.0 over WebSocket).",
        },
        "methods": methods,
        "components": {"schemas": dict(sorted(schemas.items()))},
        "x-notifications": notifications(),
    }


def _server(call: Call[NoParams]) -> dict[str, Any]:
    """This service as the caller reaches it: the host it connected to, this port."""
    c = call.ctx.components
    scheme = "wss" if c.settings.server.tls.cert_file is not None else "ws"
    host = call.session.host or "localhost"
    host = f"[{host}]" if ":" in host else host
    return {
        "name": "camera-service",
        "url": f"{scheme}://{host}:{c.ws_port}/ws",
        "summary": "JSON-RPC 2.0 over WebSocket, one message per text frame.",
    }


def _schema(tp: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    return schema


def _method(spec: MethodSpec[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    if spec.params is not NoParams:
        model_schema = _schema(spec.params, schemas)
        required = set(model_schema.get("required", []))
        for name, prop in model_schema.get("properties", {}).items():
            params.append({"name": name, "required": name in required, "schema": prop})
    codes = list(spec.errors)
    if spec.params is not NoParams:
        codes.append(INVALID_PARAMS)
    codes += [RATE_LIMITED, INTERNAL_ERROR]
    if spec.role is not None:
        codes += [AUTH_REQUIRED, PERMISSION_DENIED]
    doc: dict[str, Any] = {
        "name": spec.name,
        "summary": spec.summary,
        "paramStructure": "by-name",
        "params": params,
        "result": {
            "name": "result",
            "schema": _schema(spec.result, schemas),
        },
        "errors": [{"code": c, "message": ERROR_MESSAGES[c]} for c in sorted(set(codes))],
        "x-required-role": spec.role.label if spec.role is not None else None,
    }
    return doc
