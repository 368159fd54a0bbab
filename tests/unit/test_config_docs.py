"""docs/configuration.md is generated from the config model and must not drift from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from camera_service.config import env_overrides, iter_fields, validate
from camera_service.config_docs import REGENERATE, env_names, render_markdown, render_type

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.fixture(scope="module")
def rendered() -> str:
    return render_markdown()


def test_committed_doc_matches_model(rendered: str) -> None:
    committed = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    assert committed == rendered, (
        f"docs/configuration.md is out of date with src/camera_service/config.py; "
        f"regenerate it with: .venv/bin/{REGENERATE}"
    )


def test_render_is_deterministic(rendered: str) -> None:
    assert render_markdown() == rendered


def test_every_leaf_key_is_documented(rendered: str) -> None:
    keys = [dotted for dotted, _, _ in iter_fields()]
    assert keys
    missing = [k for k in keys if f"| `{k}` |" not in rendered]
    assert not missing


def test_every_documented_env_name_sets_its_key() -> None:
    for dotted, _, _ in iter_fields():
        for name in env_names(dotted):
            assert [k for k, _ in env_overrides({name: "1"})] == [dotted], name


def test_reload_column_matches_live_marker(rendered: str) -> None:
    for dotted, _, is_live in iter_fields():
        row = next(line for line in rendered.splitlines() if line.startswith(f"| `{dotted}` |"))
        assert ("| live |" in row) is is_live, row


def test_secret_default_shown_as_unset(rendered: str) -> None:
    row = next(
        line for line in rendered.splitlines() if line.startswith("| `security.jwt.secret_key` |")
    )
    assert "| unset |" in row
    assert "CAMERA_SERVICE_JWT_SECRET" in row


def test_readable_types(rendered: str) -> None:
    assert "| `server.max_connections` | int (1\u2013200000) |" in rendered
    assert '`"auto"` \\| `"always"` \\| `"never"`' in rendered
    assert "float (> 0, ≤ 100)" in rendered
    assert render_type(list[str]) == "list of string"


def test_example_yaml_is_a_valid_config(rendered: str) -> None:
    match = re.search(r"```yaml\n(.*?)```", rendered, re.S)
    assert match is not None
    data = yaml.safe_load(match.group(1))
    settings = validate(data)
    assert [s.id for s in settings.cameras.sources] == ["gate", "lab"]
    for dotted, _, _ in iter_fields():
        node = data
        for part in dotted.split("."):
            assert part in node, f"example YAML lacks {dotted}"
            node = node[part]


def test_source_schemas_documented(rendered: str) -> None:
    assert "### `type: rtsp`" in rendered
    assert "### `type: test`" in rendered
    assert "| `on_demand` |" in rendered
    assert "| `resolution` |" in rendered
