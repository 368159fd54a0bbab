"""The wire contract has one definition: every method's result type is the shared one
(``api/contract.py``), handlers say they return it, and the SDK's result types are
those very types, with the schemas the server publishes in ``rpc.discover``."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, cast, get_args, get_origin, get_type_hints

import orjson
import pytest
from pydantic import TypeAdapter
from typing_extensions import is_typeddict

from camera_service.api import contract
from camera_service.api.context import ApiContext, Components
from camera_service.api.methods import all_methods
from camera_service.api.methodtable import Call, MethodSpec, NoParams
from camera_service.api.openrpc import REF
from camera_service.api.session import Session
from camera_service.client import types as sdk_types
from camera_service.client.client import CameraClient
from camera_service.config import Settings

# The results that are no TypedDict: ping's "pong" and the OpenRPC document itself.
PLAIN_RESULTS: dict[str, object] = {"ping": str, "rpc.discover": dict[str, Any]}
SDK_ONLY = {"Streams"}  # a TypedDict of the SDK that is no method's result
SDK_METHOD = {"rpc.discover": "discover"}  # else the SDK's method has the method's name


class _DiscoverReads:
    """What rpc.discover reads of the service: TLS on or off, and the API's port."""

    settings = Settings()
    ws_port = 8002


def published_document() -> dict[str, Any]:
    """What rpc.discover answers (its handler never reads the service's parts)."""
    spec = next(s for s in all_methods() if s.name == "rpc.discover")
    ctx = ApiContext(cast(Components, _DiscoverReads()))
    call = Call(NoParams(), Session(60), ctx)
    document: dict[str, Any] = orjson.loads(orjson.dumps(spec.handler(call)))
    return document


def from_contract(tp: object) -> bool:
    if get_origin(tp) is list:
        return all(from_contract(arg) for arg in get_args(tp))
    return is_typeddict(tp) and getattr(contract, getattr(tp, "__name__", ""), None) is tp


def returned(spec: MethodSpec[Any]) -> tuple[object, ...]:
    """The types a handler's annotation says it returns (the members of a union)."""
    annotation = get_type_hints(spec.handler)["return"]
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


@pytest.mark.parametrize("spec", all_methods(), ids=lambda spec: spec.name)
def test_each_result_is_the_shared_type_and_the_handler_returns_it(spec: MethodSpec[Any]) -> None:
    if spec.name in PLAIN_RESULTS:
        assert spec.result == PLAIN_RESULTS[spec.name]
    else:
        assert from_contract(spec.result), f"{spec.name}: {spec.result} is not in api/contract.py"
    kinds = returned(spec)
    # A handler may hand back its result already encoded (its bytes are tested against
    # the result built field by field: test_camera_methods).
    assert spec.result in kinds or kinds == (orjson.Fragment,), (spec.name, kinds)
    assert set(kinds) <= {spec.result, orjson.Fragment}, (spec.name, kinds)


def test_the_sdk_result_types_are_the_contracts() -> None:
    for name in sdk_types.__all__:
        tp = getattr(sdk_types, name)
        if is_typeddict(tp) and name not in SDK_ONLY:
            assert from_contract(tp), f"client.types.{name} is declared apart from the server's"


def sdk_method(rpc_name: str) -> Any:
    method = getattr(CameraClient, SDK_METHOD.get(rpc_name, rpc_name), None)
    assert method is not None, f"the SDK has no method for {rpc_name}"
    assert f'"{rpc_name}"' in inspect.getsource(method), (
        f"the SDK's method does not call {rpc_name}"
    )
    return method


def test_the_sdk_returns_what_rpc_discover_publishes() -> None:
    document = published_document()
    published = document["components"]["schemas"]
    assert {m["name"] for m in document["methods"]} == {s.name for s in all_methods()}
    for method in document["methods"]:
        sdk_return = get_type_hints(sdk_method(method["name"]))["return"]
        schema = TypeAdapter(sdk_return).json_schema(ref_template=REF)
        defs = schema.pop("$defs", {})
        assert schema == method["result"]["schema"], method["name"]
        for name, definition in defs.items():
            assert definition == published[name], (method["name"], name)
