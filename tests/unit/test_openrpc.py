"""The ``rpc.discover`` document is valid OpenRPC: checked against the OpenRPC
meta-schema (npm ``@open-rpc/meta-schema`` 1.14.9, its JSON in tests/data/openrpc with
its licence), with the notifications described in the ``x-notifications`` extension."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from camera_service.api.methods import all_methods
from camera_service.api.openrpc import openrpc_document
from camera_service.api.session import DEFAULT_TOPICS, NOTIFICATION_TOPICS

META = Path(__file__).resolve().parents[1] / "data" / "openrpc" / "meta-schema-1.14.9.json"


def document() -> dict[str, object]:
    doc = openrpc_document(all_methods(), "0.0.0")
    # As discover() gives it: with the server the caller reached.
    return {**doc, "servers": [{"name": "camera-service", "url": "ws://hub.local:8002/ws"}]}


def validator() -> jsonschema.Draft7Validator:
    """The meta-schema, with what it names for a schema (``meta.json-schema.tools``, the
    JSON Schema meta-schema) resolved to draft 7's."""
    draft7 = Resource.from_contents(jsonschema.Draft7Validator.META_SCHEMA, DRAFT7)
    registry: Registry = Registry().with_resource("https://meta.json-schema.tools", draft7)
    return jsonschema.Draft7Validator(json.loads(META.read_text()), registry=registry)


def test_the_document_is_valid_against_the_openrpc_meta_schema() -> None:
    validator_ = validator()
    errors = sorted(validator_.iter_errors(document()), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_a_broken_document_is_refused() -> None:
    # The check can fail: a method without a name, a server without a url.
    doc = document()
    doc["servers"] = [{"name": "no url"}]
    assert not validator().is_valid(doc)


def test_every_notification_is_described() -> None:
    described = document()["x-notifications"]
    assert isinstance(described, list)
    assert [n["name"] for n in described] == list(NOTIFICATION_TOPICS)
    assert {n["name"] for n in described if n["x-subscribed-by-default"]} == DEFAULT_TOPICS
    assert all(n["summary"] for n in described)
