"""Generate the configuration reference (docs/configuration.md) from the config model.

Every key, type, constraint, default and description comes from the pydantic fields
in :mod:`camera_service.config`; this module only lays them out. Regenerate with::

    .venv/bin/python -m camera_service.config_docs > docs/configuration.md

``tests/unit/test_config_docs.py`` fails when the committed file and the model disagree.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from camera_service.config import (
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    SYSTEM_DATA_DIR,
    RtspSource,
    Section,
    Settings,
    TestPatternSource,
    iter_fields,
    masked_dict,
)

EN_DASH = "\u2013"  # ranges: int (1\u2013200000)
REGENERATE = "python -m camera_service.config_docs > docs/configuration.md"

# What each top-level section is about (the model has no text for a section as such).
SECTION_TITLES: dict[str, str] = {
    "server": "WebSocket JSON-RPC server (port 8002).",
    "mediamtx": "The MediaMTX media server this service drives through its Control API.",
    "cameras": "Camera discovery (V4L2 / hot-plug) and configured RTSP and test sources.",
    "recording": "Recording defaults.",
    "snapshots": "Snapshot defaults.",
    "storage": "Where state and media live, and the disk-space thresholds.",
    "retention": "Automatic deletion of old recordings and snapshots.",
    "security": "Authentication (JWT, API keys), rate limits and file downloads.",
    "logging": "Log level, format and optional rotated log file.",
    "health": "Health, metrics and file-download HTTP server (port 8003).",
    "registry": "Registration of this instance with etcd or the hub's HTTP aggregator.",
    "resources": "Hardware and concurrency limits.",
}

# Rules between fields (model validators), shown under their section's table.
SECTION_NOTES: dict[str, str] = {
    "server": "`server.tls.cert_file` and `server.tls.key_file` must be set together.",
    "cameras": "Source ids must be unique within `cameras.sources`.",
    "storage": "`storage.warn_percent` must be below `storage.block_percent`.",
}

EXAMPLE_SOURCES: list[dict[str, Any]] = [
    {
        "type": "rtsp",
        "id": "gate",
        "name": "Front gate",
        "url": "rtsp://192.0.2.10:554/stream1",
        "username": "viewer",
        "password": "change-me",
        "transport": "tcp",
        "on_demand": True,
    },
    {"type": "test", "id": "lab", "pattern": "smptebars", "resolution": "640x480", "fps": 10},
]


# --- naming ---------------------------------------------------------------------------


def env_names(dotted: str) -> list[str]:
    """Environment variables that set ``dotted`` (the rule of config.py's docstring)."""
    section, *rest = dotted.split(".")
    names = [f"{ENV_PREFIX}{section}_{'__'.join(rest)}".upper()]
    if dotted == "security.jwt.secret_key":
        names.insert(0, ENV_PREFIX + "JWT_SECRET")
    return names


# --- rendering of types and defaults ----------------------------------------------------


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell: pipes escaped everywhere, ``<``
    escaped outside code spans (``<data_dir>`` would otherwise vanish as an HTML tag)."""
    parts = text.replace("\n", " ").split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;")
    return "`".join(parts).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def _constraints(metadata: list[Any]) -> str:
    lo = hi = ""
    pattern = ""
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            lo = f"≥ {m.ge}"
        elif isinstance(m, annotated_types.Gt):
            lo = f"> {m.gt}"
        elif isinstance(m, annotated_types.Le):
            hi = f"≤ {m.le}"
        elif isinstance(m, annotated_types.Lt):
            hi = f"< {m.lt}"
        elif getattr(m, "pattern", None):
            pattern = str(m.pattern)
    if pattern:
        return f"matching {_code(pattern)}"
    if lo.startswith("≥") and hi.startswith("≤"):
        return f"{lo[2:]}{EN_DASH}{hi[2:]}"
    return ", ".join(x for x in (lo, hi) if x)


def _annotated_parts(tp: Any) -> tuple[Any, list[Any]]:
    """Split ``Annotated[T, Field(...), ...]`` into T and its constraint metadata."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *extras = typing.get_args(tp)
        metadata: list[Any] = []
        for extra in extras:
            metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        return base, metadata
    return tp, []


def render_type(tp: Any, metadata: list[Any] | None = None) -> str:
    """A readable type: ``int (1-200000)``, ``"auto" | "always"``, ``list of string``."""
    tp, inner = _annotated_parts(tp)
    metadata = [*(metadata or []), *inner]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if all(isinstance(a, type) and issubclass(a, BaseModel) for a in members):
            return "source (see [Camera sources](#camera-sources))"
        return " or ".join(render_type(a, metadata) for a in members)
    if origin is Literal:
        return " | ".join(_code(json.dumps(a)) for a in args)
    if origin is list:
        return "list of " + render_type(args[0])
    names = {
        bool: "bool",
        int: "int",
        float: "float",
        str: "string",
        Path: "path",
        SecretStr: "secret string",
    }
    name = names.get(tp, getattr(tp, "__name__", str(tp)))
    limits = _constraints(metadata)
    return f"{name} ({limits})" if limits else name


def _is_secret(info: FieldInfo) -> bool:
    return "SecretStr" in str(info.annotation)


def render_default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    if _is_secret(info) or info.default is None:
        return "unset"
    value = info.default
    if isinstance(value, bool):
        return _code("true" if value else "false")
    if isinstance(value, Path):
        return _code(str(value))
    if isinstance(value, list):
        return _code(json.dumps(value))
    return _code(str(value))


def _description(info: FieldInfo, key: str) -> str:
    text = info.description or ""
    if _is_secret(info) and "mask" not in text:
        text += " Masked as `***` by `config show`."
    return text.strip()


# --- document ---------------------------------------------------------------------------


def _sections() -> Iterator[tuple[str, list[tuple[str, FieldInfo, bool]]]]:
    grouped: dict[str, list[tuple[str, FieldInfo, bool]]] = {}
    for dotted, info, is_live in iter_fields():
        grouped.setdefault(dotted.split(".", 1)[0], []).append((dotted, info, is_live))
    yield from grouped.items()


def _section_table(rows: list[tuple[str, FieldInfo, bool]]) -> list[str]:
    out = [
        "| Key | Type | Default | Reload | Env variable | Description |",
        "|---|---|---|---|---|---|",
    ]
    for dotted, info, is_live in rows:
        env = " or ".join(_code(n) for n in env_names(dotted))
        cells = [
            _code(dotted),
            render_type(info.annotation, list(info.metadata)),
            render_default(info),
            "live" if is_live else "restart",
            env,
            _description(info, dotted),
        ]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return out


def _source_table(model: type[Section], tag: str) -> list[str]:
    out = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        cells = [
            _code(name),
            render_type(info.annotation, list(info.metadata)),
            render_default(info),
            _description(info, f"{tag}.{name}"),
        ]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return out


def example_yaml() -> str:
    """Every key at its default, plus two example camera sources."""
    data = masked_dict(Settings())
    data["cameras"]["sources"] = EXAMPLE_SOURCES
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _intro() -> list[str]:
    live = [k for k, _, is_live in iter_fields() if is_live]
    return [
        "# Configuration reference",
        "",
        f"<!-- Generated from src/camera_service/config.py by `{REGENERATE}`. "
        "Do not edit by hand. -->",
        "",
        "camera-service starts with no configuration at all: every key has a default, and",
        "no root-only path is required. Configuration is a YAML file of sections",
        "(`server`, `cameras`, ...) plus `CAMERA_SERVICE_*` environment variables.",
        "",
        "## Where settings come from",
        "",
        "Later sources override earlier ones, key by key:",
        "",
        "1. built-in defaults (the tables below);",
        "2. the YAML file: `--config PATH`, else the file named by `$CAMERA_SERVICE_CONFIG`,",
        f"   else `{DEFAULT_CONFIG_PATH}` if it exists (if none applies, no file is read);",
        "3. `CAMERA_SERVICE_*` environment variables.",
        "",
        "Validation is strict: an unknown section, an unknown key (in the file or in the",
        "environment), a wrong type or a value out of range stops the service with exit",
        "code 2 and a message naming the key, the value and what is allowed. Check a file",
        "before deploying it, and see what the service will actually use (secrets masked):",
        "",
        "```sh",
        "camera-service --config /etc/camera-service/config.yaml config check",
        "camera-service --config /etc/camera-service/config.yaml config show",
        "```",
        "",
        "## Environment variables",
        "",
        "* `CAMERA_SERVICE_<SECTION>_<KEY>` sets a key directly under a section. Section",
        "  names contain no underscore, so the first `_` after the section name ends it:",
        "  `CAMERA_SERVICE_SERVER_PORT=9000` sets `server.port`,",
        "  `CAMERA_SERVICE_SERVER_MAX_CONNECTIONS=5000` sets `server.max_connections`.",
        "* Deeper keys separate every further level with a double underscore `__` (field",
        "  names never contain `__`, so the rule is unambiguous):",
        "  `CAMERA_SERVICE_SECURITY_RATE_LIMIT__REQUESTS_PER_MINUTE=600` sets",
        "  `security.rate_limit.requests_per_minute`, `CAMERA_SERVICE_SERVER_TLS__CERT_FILE`",
        "  sets `server.tls.cert_file`.",
        "* `CAMERA_SERVICE_JWT_SECRET` (kept from the earlier service) sets",
        "  `security.jwt.secret_key`. Its value is taken verbatim. Set it or",
        "  `CAMERA_SERVICE_SECURITY_JWT__SECRET_KEY`, not both.",
        "* `CAMERA_SERVICE_CONFIG` names the YAML file (see above).",
        "* A key that holds text (a string, secret or path) takes the value verbatim:",
        '  `CAMERA_SERVICE_REGISTRY_INSTANCE_ID=0042` is the string `"0042"`.',
        "* Every other value is read as a YAML scalar or flow collection: `true`, `8002`,",
        "  `30.5`, `[a, b]`, `[{type: test, id: lab}]`.",
        "* Any other `CAMERA_SERVICE_*` variable is an error naming the variable: a typo",
        "  never goes unnoticed.",
        "",
        "```sh",
        "export CAMERA_SERVICE_SERVER_PORT=9000",
        "export CAMERA_SERVICE_LOGGING_LEVEL=DEBUG",
        "export CAMERA_SERVICE_SECURITY_RATE_LIMIT__REQUESTS_PER_MINUTE=600",
        'export CAMERA_SERVICE_JWT_SECRET="$(openssl rand -hex 32)"',
        "export CAMERA_SERVICE_CAMERAS_SOURCES='[{type: test, id: lab}]'",
        "```",
        "",
        "## Reloading (SIGHUP)",
        "",
        "`kill -HUP <pid>` re-reads the YAML file",
        "(environment variables are those the process started with). Keys marked **live**",
        "in the tables are applied at once:",
        "",
        *[f"* `{k}`" for k in live],
        "",
        "A change to any other key (**restart** in the tables) is not applied: the service",
        "keeps the running value, applies the live keys, and logs the keys that need a",
        "restart. A file that fails validation is rejected as a whole and the running",
        "configuration stays in force (the error is logged).",
        "",
        "## Data directory",
        "",
        "`storage.data_dir` holds the SQLite database (API keys, audit trail), the",
        "generated JWT secret and other state; recordings and snapshots default to",
        "`<data_dir>/recordings` and `<data_dir>/snapshots`. When `storage.data_dir` is",
        f"unset the service uses `{SYSTEM_DATA_DIR}` when that exists and is writable (the",
        "installer, `deploy/install.sh`, makes it for the service user), else",
        "`$XDG_DATA_HOME/camera-service` (`~/.local/share/camera-service` when",
        "`XDG_DATA_HOME` is unset) and logs which. It never creates the system directory:",
        "a run from a checkout, even as root, keeps its own state. The data dir is made",
        "mode 0700. CLI commands (`token`, `keys`) resolve it the same way, so run them",
        "as the service user with the same configuration.",
        "",
        "## Keys",
        "",
        "Reload: **live** = applied by SIGHUP; **restart** = needs a restart.",
        "Secrets are never shown with a default and are masked by `config show`.",
    ]


def render_markdown() -> str:
    """The whole configuration reference, deterministic for a given model."""
    lines = _intro()
    for section, rows in _sections():
        lines += ["", f"### `{section}`", "", SECTION_TITLES.get(section, ""), ""]
        lines += _section_table(rows)
        if section in SECTION_NOTES:
            lines += ["", SECTION_NOTES[section]]
    lines += [
        "",
        "## Camera sources",
        "",
        "`cameras.sources` is a list; each item's `type` selects its schema. `id` is the",
        "camera_id used by the API and the MediaMTX path name, and must be unique. Never",
        "put credentials in an RTSP `url`: use `username` and `password`.",
        "",
        "### `type: rtsp`",
        "",
        *_source_table(RtspSource, "rtsp"),
        "",
        "### `type: test`",
        "",
        *_source_table(TestPatternSource, "test"),
        "",
        "## Complete example",
        "",
        "Every key at its default, plus two example sources. Unset keys are `null`.",
        "",
        "```yaml",
        example_yaml().rstrip("\n"),
        "```",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
