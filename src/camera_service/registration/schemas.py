"""JSON Schemas (draft 2020-12) of the registry protocol: the single source.

``docs/registry.md`` quotes them (a test keeps the two equal) and the tests validate
every body the service sends against them. The service itself never imports this
module: it builds its bodies, it does not validate them at run time.

Each schema is self-contained (shared parts are copied into it here, not referenced
across documents), so a platform developer can validate with any draft 2020-12
validator and no resolver. They are exact for ``schema_version`` 1: unknown fields are
rejected, so drift between the builder and the contract shows up in our tests; a
consumer should still ignore fields it does not know.

``python -m camera_service.registration.schemas NAME`` prints one schema as docs quote it.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

Schema = dict[str, Any]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_VERSION = 1
INSTANCE_ID_PATTERN = "^[A-Za-z0-9._-]{1,128}$"
# ISO 8601 UTC with the Z suffix, seconds required, fraction optional.
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$"

_COUNT: Schema = {"type": "integer", "minimum": 0}
_STATUS: Schema = {"enum": ["healthy", "degraded", "unhealthy"]}
_INSTANCE_ID: Schema = {
    "type": "string",
    "pattern": INSTANCE_ID_PATTERN,
    "description": "Unique per service instance; default `<hostname>-<ws port>`.",
}
_TIMESTAMP: Schema = {"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}
_NAMES: Schema = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "uniqueItems": True,
}


def _url(*schemes: str) -> Schema:
    return {"type": "string", "pattern": f"^({'|'.join(schemes)})://[^\\s/]+(/\\S*)?$"}


def _object(properties: Schema, *, required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        "additionalProperties": False,
    }


_RESOURCE: Schema = {
    **_object({"limit": _COUNT, "active": _COUNT, "free": _COUNT}),
    "description": "free = max(0, limit - active).",
}
_RESOURCES = ("usb_cameras", "streams", "recordings", "snapshots", "connections")

_DEFS: Schema = {
    "instance_id": _INSTANCE_ID,
    "timestamp": _TIMESTAMP,
    "status": _STATUS,
    "resource": _RESOURCE,
    "health": _object(
        {
            "status": {"$ref": "#/$defs/status"},
            "components": {
                "type": "object",
                "description": "Health component name -> its status.",
                "additionalProperties": {"$ref": "#/$defs/status"},
            },
        }
    ),
    "capacity": {
        "type": "object",
        "description": "Configured limits, current use and free capacity per resource.",
        "required": list(_RESOURCES),
        "properties": {name: {"$ref": "#/$defs/resource"} for name in _RESOURCES},
        "additionalProperties": False,
    },
    "cameras": _object(
        {
            "total": _COUNT,
            "connected": _COUNT,
            "recording": _COUNT,
            "by_type": {
                "type": "object",
                "description": "Source type -> number of cameras.",
                "propertyNames": {"pattern": "^[a-z0-9_]{1,32}$"},
                "additionalProperties": _COUNT,
            },
        }
    ),
}


def _schema(title: str, description: str, body: Schema, defs: list[str]) -> Schema:
    return {
        "$schema": DIALECT,
        "$id": f"urn:camera-service:registry:{title}:{SCHEMA_VERSION}",
        "title": title,
        "description": description,
        **body,
        "$defs": {name: copy.deepcopy(_DEFS[name]) for name in defs},
    }


REGISTRATION: Schema = _schema(
    "registration",
    "The registration document: the etcd value and the aggregator's register body.",
    _object(
        {
            "schema_version": {"const": SCHEMA_VERSION},
            "instance_id": {"$ref": "#/$defs/instance_id"},
            "service": {"const": "camera-service"},
            "version": {"type": "string", "minLength": 1, "maxLength": 64},
            "started_at": {"$ref": "#/$defs/timestamp"},
            "updated_at": {"$ref": "#/$defs/timestamp"},
            "endpoints": _object(
                {
                    "ws": _url("ws", "wss"),
                    "http": _url("http", "https"),
                    "rtsp": _url("rtsp", "rtsps"),
                    "webrtc": _url("http", "https"),
                    "hls": _url("http", "https"),
                }
            ),
            "capabilities": _object(
                {
                    "methods": {**_NAMES, "minItems": 1, "description": "Sorted."},
                    "features": _NAMES,
                    "formats": _object({"recording": _NAMES, "snapshot": _NAMES}),
                    "source_types": _NAMES,
                }
            ),
            "cameras": {"$ref": "#/$defs/cameras"},
            "capacity": {"$ref": "#/$defs/capacity"},
            "health": {"$ref": "#/$defs/health"},
        }
    ),
    ["instance_id", "timestamp", "status", "resource", "health", "capacity", "cameras"],
)

HEARTBEAT: Schema = _schema(
    "heartbeat",
    "The aggregator's heartbeat body: the volatile part of the registration.",
    _object(
        {
            "schema_version": {"const": SCHEMA_VERSION},
            "instance_id": {"$ref": "#/$defs/instance_id"},
            "updated_at": {"$ref": "#/$defs/timestamp"},
            "sequence": {
                "type": "integer",
                "minimum": 1,
                "description": "1 for the first heartbeat after a register, +1 for each next.",
            },
            "heartbeat_interval": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Seconds until the next heartbeat at the latest.",
            },
            "health": {"$ref": "#/$defs/health"},
            "capacity": {"$ref": "#/$defs/capacity"},
            "cameras": {"$ref": "#/$defs/cameras"},
        }
    ),
    ["instance_id", "timestamp", "status", "resource", "health", "capacity", "cameras"],
)

ERROR: Schema = _schema(
    "error",
    "The body of an aggregator's 4xx/5xx answer (optional; the service only logs the code).",
    _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "pattern": "^[a-z0-9_]{1,64}$"},
                    "message": {"type": "string"},
                }
            )
        }
    ),
    [],
)

SCHEMAS: dict[str, Schema] = {
    "registration": REGISTRATION,
    "heartbeat": HEARTBEAT,
    "error": ERROR,
}


def dumps(name: str) -> str:
    """One schema as docs/registry.md quotes it."""
    return json.dumps(SCHEMAS[name], indent=2)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SCHEMAS:
        names = "|".join(SCHEMAS)
        print(f"usage: python -m camera_service.registration.schemas {{{names}}}", file=sys.stderr)
        return 2
    print(dumps(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
