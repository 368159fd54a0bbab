"""Contract checks against MediaMTX's published Control API spec (OpenAPI 3.0).

The vendored ``openapi.yaml`` is loaded once and its schemas are converted to JSON Schema
(draft 2020-12) so ``jsonschema`` can check every request the service sends and every
response the double returns. Conversion rules:

- ``$ref: #/components/schemas/X`` -> ``$ref: #/$defs/X`` (siblings of ``$ref`` are
  ignored, as OpenAPI 3.0 says);
- ``nullable: true`` -> ``anyOf: [{type: null}, <schema>]`` (works for ``type``, ``enum``,
  ``allOf`` alike);
- ``oneOf`` -> ``anyOf``: the spec uses ``oneOf`` without a discriminator for codec
  properties whose shapes overlap (H264/H265, AC3/MPEG4Audio), so "exactly one" would
  reject what MediaMTX really sends;
- ``format``, ``deprecated``, ``description`` and other annotations are dropped;
- every object schema that lists ``properties`` is closed (``additionalProperties:
  false``): MediaMTX decodes bodies with Go's ``DisallowUnknownFields`` at every nesting
  level (``json: unknown field "x"``), and the double's own answers are held to the same
  field set so it cannot invent fields the real server never sends.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SPEC_PATH = Path(__file__).with_name("openapi.yaml")

_REF_PREFIX = "#/components/schemas/"
_ANNOTATIONS = frozenset(
    {
        "nullable",
        "deprecated",
        "format",
        "description",
        "example",
        "externalDocs",
        "xml",
        "discriminator",
        "readOnly",
        "writeOnly",
    }
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Direction = Literal["request", "response"]


@functools.cache
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The parsed spec; cached because it is ~4000 lines and never changes in a run."""
    with path.open(encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3.0"):
        raise ValueError(f"{path} is not an OpenAPI 3.0 document")
    return spec


class ContractViolation(Exception):
    """A request or response that MediaMTX's published contract does not allow."""

    def __init__(
        self,
        message: str,
        *,
        direction: Direction,
        method: str,
        path: str,
        operation: Operation | None = None,
        status: int = 400,
        mediamtx_error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.direction: Direction = direction
        self.method = method
        self.path = path
        self.operation = operation
        # What the double answers for a request violation (404 when no route matches).
        self.status = status
        # The error text real MediaMTX would put in its Error body, when known.
        self.mediamtx_error = mediamtx_error

    def __str__(self) -> str:
        op = f" ({self.operation.operation_id})" if self.operation else ""
        return f"{self.direction} {self.method} {self.path}{op}: {self.message}"

    def __repr__(self) -> str:
        return f"ContractViolation({str(self)!r})"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case
    template: str
    spec: Mapping[str, Any] = field(repr=False, compare=False)
    pattern: re.Pattern[str] = field(repr=False, compare=False)

    @property
    def literal(self) -> bool:
        return "{" not in self.template

    def declares(self, status: int) -> bool:
        return str(status) in self.spec.get("responses", {})

    def response_schema(self, status: int) -> Mapping[str, Any] | None:
        response = self.spec.get("responses", {}).get(str(status))
        if response is None:
            return None
        content = response.get("content", {}).get("application/json")
        return None if content is None else content.get("schema")

    def request_schema(self) -> tuple[Mapping[str, Any] | None, bool]:
        body = self.spec.get("requestBody")
        if body is None:
            return None, False
        content = body.get("content", {}).get("application/json", {})
        return content.get("schema"), bool(body.get("required", False))

    def parameters(self, where: str) -> list[Mapping[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p.get("in") == where]


@dataclass(frozen=True)
class ValidatedRequest:
    operation: Operation
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any  # parsed JSON, or None when the operation takes no body


def _template_regex(template: str) -> re.Pattern[str]:
    # MediaMTX routes `{name}` as a gin wildcard (`/*name`), so path names may contain
    # slashes; ids (`{id}`) are single segments.
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{"):
            pname = part[1:-1]
            out += f"(?P<{pname}>.*)" if pname == "name" else f"(?P<{pname}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}$")


def _ref_name(ref: str) -> str:
    if not ref.startswith(_REF_PREFIX):
        raise ValueError(f"unsupported $ref {ref!r} (only {_REF_PREFIX}* is used by the spec)")
    return ref[len(_REF_PREFIX) :]


def _convert(schema: Mapping[str, Any], *, closed: bool) -> dict[str, Any]:
    """One OpenAPI 3.0 schema object -> JSON Schema 2020-12."""
    out: dict[str, Any]
    if "$ref" in schema:
        out = {"$ref": "#/$defs/" + _ref_name(schema["$ref"])}
    else:
        out = {}
        for key, value in schema.items():
            if key in _ANNOTATIONS:
                continue
            if key == "properties":
                out[key] = {p: _convert(s, closed=closed) for p, s in value.items()}
            elif key in ("items", "not", "additionalProperties") and isinstance(value, dict):
                out[key] = _convert(value, closed=closed)
            elif key in ("allOf", "anyOf"):
                out[key] = [_convert(s, closed=closed) for s in value]
            elif key == "oneOf":
                out.setdefault("anyOf", []).extend(_convert(s, closed=closed) for s in value)
            else:
                out[key] = value
        if closed and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
    if schema.get("nullable") is True:
        out = {"anyOf": [{"type": "null"}, out]}
    return out


def _leaf(error: ValidationError) -> ValidationError:
    # Descend into anyOf/allOf to the most telling cause, skipping the `null` branch that
    # nullable conversion adds (its "is not of type 'null'" is never the real problem).
    while error.context:
        causes = [
            c for c in error.context if not (c.validator == "type" and c.validator_value == "null")
        ]
        picked = best_match(causes or error.context)
        if picked is None or picked is error:
            break
        error = picked
    return error


def _describe(error: ValidationError) -> tuple[str, str | None]:
    """(precise message, what MediaMTX would answer) for one schema error."""
    error = _leaf(error)
    where = error.json_path
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(k for k in error.instance if k not in allowed)
        owner = error.schema.get("title", "this object") if isinstance(error.schema, dict) else ""
        names = ", ".join(json.dumps(k) for k in extra)
        return (
            f"{where}: unknown field(s) {names}: not properties of {owner} in the spec",
            f"json: unknown field {json.dumps(extra[0])}" if extra else None,
        )
    return f"{where}: {error.message}", None


class Validator:
    """Validates traffic against the vendored MediaMTX OpenAPI 3.0 spec."""

    def __init__(
        self, spec: Mapping[str, Any] | None = None, *, closed_objects: bool = True
    ) -> None:
        self.spec: Mapping[str, Any] = spec if spec is not None else load_spec()
        self._closed = closed_objects
        components = self.spec.get("components", {}).get("schemas", {})
        self._defs: dict[str, Any] = {}
        for name, schema in components.items():
            converted = _convert(schema, closed=closed_objects)
            # The title names the component in error messages.
            self._defs[name] = {"title": name, **converted}
        self.operations: list[Operation] = []
        for template, item in self.spec.get("paths", {}).items():
            for method in _METHODS:
                if method in item:
                    op = item[method]
                    self.operations.append(
                        Operation(
                            operation_id=op["operationId"],
                            method=method.upper(),
                            template=template,
                            spec=op,
                            pattern=_template_regex(template),
                        )
                    )
        # Literal routes win over wildcard ones (`/v3/paths/forward/list` vs `{name}`).
        self.operations.sort(key=lambda o: (not o.literal, -len(o.template)))
        self._by_id = {op.operation_id: op for op in self.operations}
        self._validators: dict[str, Draft202012Validator] = {}

    # -- schemas -------------------------------------------------------------------------

    def json_schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON Schema (with all component definitions) for one OpenAPI schema."""
        return {**_convert(schema, closed=self._closed), "$defs": self._defs}

    def property_names(self, component: str) -> frozenset[str]:
        props = self.spec["components"]["schemas"][component].get("properties", {})
        return frozenset(props)

    def _validator_for(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            converted = _convert(schema, closed=self._closed)
            validator = Draft202012Validator({**converted, "$defs": self._defs})
            self._validators[key] = validator
        return validator

    def schema_errors(
        self, instance: Any, schema: Mapping[str, Any]
    ) -> list[tuple[str, str | None]]:
        """Every error of `instance` against an OpenAPI schema, as (message, mediamtx_error)."""
        errors = sorted(
            self._validator_for(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)
        )
        return [_describe(e) for e in errors]

    # -- routing -------------------------------------------------------------------------

    def operation(self, operation_id: str) -> Operation:
        return self._by_id[operation_id]

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        method = method.upper()
        path_matched = False
        for op in self.operations:
            m = op.pattern.match(path)
            if m is None:
                continue
            path_matched = True
            if op.method == method:
                return op, {k: v for k, v in m.groupdict().items() if v is not None}
        why = "method not declared for this path" if path_matched else "no such path"
        raise ContractViolation(
            f"no operation in the MediaMTX spec for {method} {path} ({why})",
            direction="request",
            method=method,
            path=path,
            status=404,
            mediamtx_error="404 page not found",
        )

    # -- requests ------------------------------------------------------------------------

    def validate_request(
        self, method: str, path: str, query: Mapping[str, str], body: bytes
    ) -> ValidatedRequest:
        op, params = self.match(method, path)

        def violation(message: str, mediamtx_error: str | None = None) -> ContractViolation:
            return ContractViolation(
                message,
                direction="request",
                method=method.upper(),
                path=path,
                operation=op,
                mediamtx_error=mediamtx_error,
            )

        for param in op.parameters("query"):
            pname = param["name"]
            if pname not in query:
                if param.get("required"):
                    raise violation(f"missing required query parameter {pname!r}")
                continue
            ptype = param.get("schema", {}).get("type")
            if ptype == "integer" and not re.fullmatch(r"-?[0-9]+", query[pname]):
                raise violation(f"query parameter {pname!r}={query[pname]!r} is not an integer")
        for param in op.parameters("path"):
            if param.get("required") and not params.get(param["name"]):
                raise violation(f"empty path parameter {param['name']!r}", "invalid name")

        schema, required = op.request_schema()
        parsed: Any = None
        if schema is not None:
            if not body:
                if required:
                    raise violation("request body is required", "unexpected end of JSON input")
            else:
                try:
                    parsed = json.loads(body)
                except ValueError as exc:
                    raise violation(f"request body is not JSON: {exc}", str(exc)) from None
                errors = self.schema_errors(parsed, schema)
                if errors:
                    messages = "; ".join(m for m, _ in errors)
                    mediamtx = next((e for _, e in errors if e), messages)
                    raise violation(f"request body: {messages}", mediamtx)
        return ValidatedRequest(op, params, dict(query), parsed)

    # -- responses -----------------------------------------------------------------------

    def validate_response(
        self,
        op: Operation,
        method: str,
        path: str,
        status: int,
        body: bytes | None,
        content_type: str | None,
        *,
        injected: bool = False,
    ) -> None:
        """Raise ContractViolation unless `status`/`body` is an answer `op` declares.

        Injected faults (``fail_next``) may use a status the operation does not declare
        (a proxy in front of MediaMTX could), but their body must still be an ``Error``.
        """

        def violation(message: str) -> ContractViolation:
            return ContractViolation(
                message, direction="response", method=method, path=path, operation=op, status=status
            )

        schema: Mapping[str, Any] | None
        if op.declares(status):
            schema = op.response_schema(status)
        elif injected:
            schema = {"$ref": _REF_PREFIX + "Error"}
        else:
            declared = ", ".join(op.spec.get("responses", {}))
            raise violation(f"status {status} is not declared (declared: {declared})")
        if schema is None:
            return
        if content_type != "application/json":
            raise violation(f"content type {content_type!r}, spec says application/json")
        try:
            parsed = json.loads(body or b"")
        except ValueError as exc:
            raise violation(f"body is not JSON: {exc}") from None
        errors = self.schema_errors(parsed, schema)
        if errors:
            raise violation(f"body (status {status}): " + "; ".join(m for m, _ in errors))
