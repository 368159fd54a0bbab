"""Home Assistant's MQTT discovery conventions, as a JSON Schema per component, for
checking the configs the service publishes (tests/unit/test_events_out_discovery.py).

From Home Assistant's MQTT discovery documentation: the config topic is
``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`` with ids of
``[a-zA-Z0-9_-]``; a config names its entity by ``unique_id`` and groups it in a
``device`` (``identifiers`` or ``connections``); ``availability`` is a list of
``{topic, payload_available, payload_not_available}``; ``origin`` needs a ``name``.
Each component has its required topic (camera ``topic``, switch ``command_topic``,
sensor and binary_sensor ``state_topic``). Only documented keys are allowed here, in
their full form (no abbreviations mixed in), so a typo fails.
"""

from __future__ import annotations

import re
from typing import Any

CONFIG_TOPIC = re.compile(
    r"(?P<prefix>[a-zA-Z0-9_-]+)/(?P<component>[a-z_]+)/"
    r"(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<object>[a-zA-Z0-9_-]+)/config"
)
PUBLISH_TOPIC = {"type": "string", "pattern": r"^[^#+\u0000]{1,65535}$"}
SUBSCRIBE_TOPIC = {"type": "string", "minLength": 1}
TEMPLATE = {"type": "string", "pattern": r"^\{\{.*\}\}$"}

DEVICE = {
    "type": "object",
    "properties": {
        "identifiers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "connections": {"type": "array"},
        "name": {"type": "string"},
        "manufacturer": {"type": "string"},
        "model": {"type": "string"},
        "sw_version": {"type": "string"},
        "hw_version": {"type": "string"},
        "via_device": {"type": "string"},
        "configuration_url": {"type": "string"},
        "suggested_area": {"type": "string"},
    },
    "anyOf": [{"required": ["identifiers"]}, {"required": ["connections"]}],
    "additionalProperties": False,
}
AVAILABILITY = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "topic": SUBSCRIBE_TOPIC,
            "payload_available": {"type": "string"},
            "payload_not_available": {"type": "string"},
            "value_template": TEMPLATE,
        },
        "required": ["topic"],
        "additionalProperties": False,
    },
}
COMMON = {
    "name": {"type": ["string", "null"]},
    "unique_id": {"type": "string", "minLength": 1},
    "device": DEVICE,
    "origin": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "sw_version": {"type": "string"},
            "support_url": {"type": "string"},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    "availability": AVAILABILITY,
    "availability_mode": {"enum": ["all", "any", "latest"]},
    "icon": {"type": "string", "pattern": r"^mdi:[a-z0-9-]+$"},
    "entity_category": {"enum": ["config", "diagnostic"]},
    "json_attributes_topic": SUBSCRIBE_TOPIC,
    "json_attributes_template": TEMPLATE,
    "enabled_by_default": {"type": "boolean"},
    "qos": {"enum": [0, 1, 2]},
}
STATE = {
    "state_topic": SUBSCRIBE_TOPIC,
    "value_template": TEMPLATE,
}
COMPONENTS: dict[str, dict[str, Any]] = {
    "camera": {
        "properties": {**COMMON, "topic": SUBSCRIBE_TOPIC, "image_encoding": {"enum": ["b64"]}},
        "required": ["topic"],
    },
    "switch": {
        "properties": {
            **COMMON,
            **STATE,
            "command_topic": PUBLISH_TOPIC,
            "payload_on": {"type": "string"},
            "payload_off": {"type": "string"},
            "state_on": {"type": "string"},
            "state_off": {"type": "string"},
            "optimistic": {"type": "boolean"},
            "retain": {"type": "boolean"},
            "device_class": {"enum": ["outlet", "switch"]},
        },
        "required": ["command_topic"],
    },
    "sensor": {
        "properties": {
            **COMMON,
            **STATE,
            "device_class": {"type": "string"},
            "state_class": {"enum": ["measurement", "total", "total_increasing"]},
            "unit_of_measurement": {"type": "string"},
            "options": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "expire_after": {"type": "integer"},
        },
        "required": ["state_topic"],
    },
    "binary_sensor": {
        "properties": {
            **COMMON,
            **STATE,
            "payload_on": {"type": "string"},
            "payload_off": {"type": "string"},
            "device_class": {"type": "string"},
            "expire_after": {"type": "integer"},
        },
        "required": ["state_topic"],
    },
}


def schema(component: str) -> dict[str, Any]:
    spec = COMPONENTS[component]
    return {
        "type": "object",
        "properties": spec["properties"],
        "required": ["unique_id", "device", *spec["required"]],
        "additionalProperties": False,
    }
