"""docs/registry.md quotes the code's schemas exactly, and its examples are valid."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from camera_service.registration.schemas import SCHEMAS, dumps
from tests.support.aggregator import schema_errors

DOC = Path(__file__).resolve().parents[2] / "docs" / "registry.md"
BLOCK = re.compile(r"<!-- (schema|example): (\w+) -->\n```json\n(.*?)\n```", re.DOTALL)


def blocks(kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for k, name, text in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        if k == kind:
            assert name not in found, f"two {kind} blocks for {name}"
            found[name] = json.loads(text)
    return found


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_docs_quote_the_schema_the_code_holds(name: str) -> None:
    quoted = blocks("schema")
    assert name in quoted, f"docs/registry.md lacks the {name} schema"
    assert quoted[name] == SCHEMAS[name], (
        f"docs/registry.md is out of date: paste `python -m camera_service.registration.schemas"
        f" {name}` into its '<!-- schema: {name} -->' block"
    )
    assert dumps(name) in DOC.read_text(encoding="utf-8")  # also formatted as generated


def test_every_example_in_the_docs_is_valid() -> None:
    examples = blocks("example")
    assert set(examples) == set(SCHEMAS)
    for name, example in examples.items():
        assert schema_errors(name, example) == [], name
    assert examples["heartbeat"]["instance_id"] == examples["registration"]["instance_id"]
