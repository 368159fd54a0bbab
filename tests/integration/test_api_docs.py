"""docs/api.md cannot drift from ``rpc.discover``: the running service's own description
of its methods is checked against the page's method table, its roles table, and the
section that documents each method (every param named there)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import Connect

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ROLES = ("none", "viewer", "operator", "admin")


def table_after(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table whose header row starts with
    ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def names_in(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def method_table(text: str) -> dict[str, str]:
    """``Methods available now``: method -> role."""
    return {
        name: role
        for cell, role, _purpose in table_after(text, "| Method | Role |")
        for name in names_in(cell)
    }


def roles_table(text: str) -> dict[str, str]:
    """``Roles``: method -> role."""
    return {
        name: role
        for role, cell in table_after(text, "| Role | Methods |")
        for name in names_in(cell)
    }


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every ``###`` section; a body ends at the next heading of
    level 2 or 3."""
    found = re.split(r"^(#{2,3} .*)$", text, flags=re.MULTILINE)
    return [
        (heading, body)
        for heading, body in zip(found[1::2], found[2::2], strict=True)
        if heading.startswith("### ")
    ]


def code_of(body: str) -> str:
    """The code of a section: its fenced blocks and inline spans (a span may wrap),
    tables left out."""
    fences = re.findall(r"^```[^\n]*\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```.*?^```", "", body, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^\|.*$", "", prose, flags=re.MULTILINE)  # tables only list names
    return "\n".join(fences + re.findall(r"`([^`]+)`", prose))


def method_sections(text: str, method: str) -> list[str]:
    """The code of the sections that document ``method``: those whose heading names
    it, else those that show it called (``name {params}`` or an example request)."""
    named = [code_of(body) for heading, body in sections(text) if f"`{method}`" in heading]
    if named:
        return named
    called = re.compile(rf'^{re.escape(method)}(\s*\{{|$)|"method":\s*"{re.escape(method)}"', re.M)
    return [code for _h, body in sections(text) if called.search(code := code_of(body))]


def names_param(code: str, param: str) -> bool:
    """``param`` appears in the code as a name (``param``, ``param?``, ``"param":``)."""
    return re.search(rf"(?<![\w.]){re.escape(param)}(?![\w])", code) is not None


def role_of(method: dict[str, Any]) -> str:
    role: str | None = method["x-required-role"]
    return role or "none"


async def discover(connect: Connect) -> list[dict[str, Any]]:
    client = await connect()
    document = await client.call("rpc.discover")
    methods: list[dict[str, Any]] = document["methods"]
    return methods


async def test_method_table_lists_every_method_with_its_role(connect: Connect) -> None:
    methods = await discover(connect)
    text = API_MD.read_text(encoding="utf-8")
    expected = {m["name"]: role_of(m) for m in methods}
    assert method_table(text) == expected
    assert roles_table(text) == expected
    assert set(expected.values()) <= set(ROLES)


async def test_every_method_has_a_section_naming_each_of_its_params(connect: Connect) -> None:
    text = API_MD.read_text(encoding="utf-8")
    missing: list[str] = []
    for method in await discover(connect):
        found = method_sections(text, method["name"])
        if not found:
            missing.append(f"{method['name']}: no section")
            continue
        code = "\n".join(found)
        for param in method["params"]:
            if not names_param(code, param["name"]):
                missing.append(f"{method['name']}: param {param['name']}")
    assert not missing, "docs/api.md does not document:\n  " + "\n  ".join(missing)


def test_the_checks_see_drift() -> None:
    """The parsers on a page that has drifted: a missing method, a wrong role, a param
    not named."""
    page = (
        "| Method | Role | Purpose |\n|---|---|---|\n"
        "| `ping` | none | x |\n| `take_snapshot` | viewer | y |\n\n"
        "## Methods\n\n### `take_snapshot` (operator)\n\nTakes `device` only.\n"
        '### `ping`\n\n```json\n{"jsonrpc":"2.0","method":"ping","id":1}\n```\n'
    )
    assert method_table(page) == {"ping": "none", "take_snapshot": "viewer"}
    [code] = method_sections(page, "take_snapshot")
    assert names_param(code, "device") and not names_param(code, "format")
    assert method_sections(page, "get_status") == []
    # A signature in a code span, and an example request, document a method too.
    prose = "### Files\n\n`list_snapshots {limit?,\ndevice?}` lists.\n"
    [code] = method_sections(prose, "list_snapshots")
    assert names_param(code, "limit") and names_param(code, "device")
    assert not names_param(code, "offset") and method_sections(prose, "list") == []
    [code] = method_sections(page, "ping")
