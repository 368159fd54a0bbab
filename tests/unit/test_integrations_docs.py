"""docs/integrations.md: its signature-verification example runs and agrees with the
service's signatures, and its tables name the events and topics the code has."""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from camera_service.config import WebhooksConfig
from camera_service.integrations import wire
from camera_service.integrations.webhooks import Delivery

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
EXAMPLE = re.compile(r"<!-- example: verify -->\n```python\n(.*?)\n```", re.DOTALL)
SECRET = "docs-secret-0123456789"

Verify = Callable[..., bool]


def doc_verify() -> Verify:
    [code] = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "docs"}  # the definitions, not the demo
    exec(compile(code, str(DOC), "exec"), namespace)
    verify: Verify = namespace["verify"]
    return verify


def signed(clock: float) -> tuple[bytes, dict[str, str]]:
    cfg = WebhooksConfig.model_validate(
        {"targets": [{"url": "http://127.0.0.1:9/hook", "secret": SECRET}]}
    )
    d = Delivery(cfg.targets[0], cfg, "hub1", lambda: None, clock=lambda: clock)
    out = wire.availability("hub1", True, clock)
    body = d.body(out)
    return body, d.headers(out, body)


def test_the_example_verifies_the_services_signatures() -> None:
    verify = doc_verify()
    body, headers = signed(time.time())
    assert verify(SECRET.encode(), body, headers) is True
    assert verify(b"wrong-secret-0123456789", body, headers) is False
    assert verify(SECRET.encode(), body.replace(b"online", b"offline"), headers) is False
    assert verify(SECRET.encode(), body, {**headers, "X-Camera-Service-Timestamp": "²"}) is False
    assert verify(SECRET.encode(), body, {}) is False


def test_the_example_refuses_a_replay() -> None:
    verify = doc_verify()
    body, headers = signed(time.time() - 3600)  # signed an hour ago
    assert verify(SECRET.encode(), body, headers) is False
    assert verify(SECRET.encode(), body, headers, tolerance=7200) is True


def test_the_demo_runs() -> None:
    [code] = EXAMPLE.findall(DOC.read_text(encoding="utf-8"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__main__"})
    assert out.getvalue() == "verified a delivery about camera lab\n"


def test_the_event_table_names_every_event() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in wire.KINDS:
        assert f"| `{kind}` |" in text, kind
