"""Structured logs: JSON lines, UTC, correlation ids, credentials never written."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from camera_service.config import LoggingConfig
from camera_service.observability.logging import redact, request_id, setup_logging
from tests.conftest import make_token


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_with_utc_time_and_request_id(restore_root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging(LoggingConfig(level="INFO", format="auto"), stream)  # not a TTY: JSON
    token = request_id.set(("7", 42))
    try:
        logging.getLogger("camera_service.test").info("hello", extra={"camera": "cam1"})
    finally:
        request_id.reset(token)
    entry = orjson.loads(stream.getvalue().splitlines()[-1])
    assert entry["msg"] == "hello"
    assert entry["level"] == "INFO"
    assert entry["ts"].endswith("Z")
    assert entry["request_id"] == "7:42"
    assert entry["camera"] == "cam1"


def test_credentials_never_logged(restore_root_logging: None) -> None:
    stream = io.StringIO()
    setup_logging(LoggingConfig(level="DEBUG", format="json"), stream)
    jwt = make_token("admin")
    key = "csk_" + "Ab3_" * 11
    log = logging.getLogger("camera_service.test")
    log.info("got %s", jwt)
    log.info("key", extra={"value": key})
    log.info("source rtsp://admin:hunter2@127.0.0.1:8554/cam")
    try:
        raise ValueError(f"bad token {jwt}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert jwt not in text and jwt.split(".")[1] not in text
    assert key not in text
    assert "hunter2" not in text
    assert "rtsp://***@127.0.0.1:8554/cam" in text
    assert redact("plain words stay") == "plain words stay"


def test_text_format_and_rotation(tmp_path: Path, restore_root_logging: None) -> None:
    stream = io.StringIO()
    path = tmp_path / "logs" / "service.log"
    setup_logging(
        LoggingConfig(level="INFO", format="text", file=path, max_bytes=2048, backup_count=2),
        stream,
    )
    log = logging.getLogger("camera_service.test")
    for i in range(200):
        log.info("line %d %s", i, "x" * 40)
    assert stream.getvalue().splitlines()[0].split(" ", 2)[1] == "INFO"
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == ["service.log", "service.log.1", "service.log.2"]
    last = path.read_text().splitlines()[-1]
    assert orjson.loads(last)["msg"].startswith("line 199")
