"""Home Assistant discovery configs checked against HA's conventions
(tests/support/ha_discovery.py): topics, required keys, unique ids, devices."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from camera_service.cameras.model import Camera, CameraStatus, SourceType
from camera_service.integrations import wire
from tests.support.ha_discovery import CONFIG_TOPIC, schema

TOPICS = wire.Topics("camera-service", "hub1")
CAMERAS = [
    Camera("lab", SourceType.TEST, "Lab", CameraStatus.CONNECTED),
    Camera("camera0", SourceType.USB, "USB camera 0"),
    Camera("door-1", SourceType.RTSP, "Front door"),
]


def component(topic: str) -> str:
    m = CONFIG_TOPIC.fullmatch(topic)
    assert m is not None, topic
    return m["component"]


def discovery(commands: bool) -> wire.Discovery:
    return wire.Discovery("homeassistant", "hub1", TOPICS, "1.2.3", commands)


def configs(commands: bool) -> list[tuple[str, dict[str, Any]]]:
    d = discovery(commands)
    out = wire.hub_discovery(d)
    for camera in CAMERAS:
        out += wire.camera_discovery(d, camera)
    return out


@pytest.mark.parametrize("commands", [True, False])
def test_every_config_follows_the_conventions(commands: bool) -> None:
    seen_ids: set[str] = set()
    for topic, config in configs(commands):
        m = CONFIG_TOPIC.fullmatch(topic)
        assert m, topic
        assert m["prefix"] == "homeassistant" and m["node"] == "hub1"
        jsonschema.validate(config, schema(m["component"]))
        assert config["unique_id"] not in seen_ids
        seen_ids.add(config["unique_id"])
        # Every topic it names is one of this service's.
        for key, value in config.items():
            if key.endswith("topic"):
                assert value.startswith("camera-service/hub1/"), (key, value)
        for entry in config["availability"]:
            assert entry["topic"].startswith("camera-service/hub1/")


def test_a_camera_is_one_device_behind_the_hub() -> None:
    entities = wire.camera_discovery(discovery(True), CAMERAS[0])
    devices = {str(c["device"]) for _, c in entities}
    assert len(devices) == 1
    device = entities[0][1]["device"]
    assert device["identifiers"] == ["camera-service_hub1_lab"] and device["name"] == "Lab"
    hub = wire.hub_discovery(discovery(True))[0][1]["device"]
    assert device["via_device"] in hub["identifiers"]
    components = sorted(component(t) for t, _ in entities)
    assert components == ["binary_sensor", "camera", "sensor", "sensor", "switch"]


def test_the_switch_speaks_the_state_topic_words() -> None:
    [(_, switch)] = [
        (t, c) for t, c in wire.camera_discovery(discovery(True), CAMERAS[0]) if "/switch/" in t
    ]
    assert switch["command_topic"] == "camera-service/hub1/cameras/lab/recording/set"
    assert switch["state_topic"] == "camera-service/hub1/cameras/lab/recording"
    assert (switch["payload_on"], switch["payload_off"]) == (wire.ON, wire.OFF)
    assert switch["value_template"] == "{{ value_json.state }}"
    assert wire.parse_command(switch["payload_on"].encode()) is True
    assert wire.parse_command(switch["payload_off"].encode()) is False
    # The camera entity reads the image topic; it is unavailable while the camera is.
    [(_, camera)] = [
        (t, c) for t, c in wire.camera_discovery(discovery(True), CAMERAS[0]) if "/camera/" in t
    ]
    assert camera["topic"] == TOPICS.camera("lab", "image")
    assert [a["topic"] for a in camera["availability"]] == [
        TOPICS.status,
        TOPICS.camera("lab", "availability"),
    ]
    assert camera["availability_mode"] == "all"


def test_without_commands_recording_is_read_only() -> None:
    topics = [t for t, _ in wire.camera_discovery(discovery(False), CAMERAS[0])]
    assert "homeassistant/binary_sensor/hub1/lab_recording/config" in topics
    assert not any("/switch/" in t for t in topics)


def test_removal_topics_cover_every_config() -> None:
    for commands in (True, False):
        made = {t for t, _ in wire.camera_discovery(discovery(commands), CAMERAS[0])}
        assert made <= set(wire.camera_discovery_topics(discovery(commands), "lab"))
