"""Params refused in the contract's words (issue 16, points 4 and 5): the ``device``
param with its numeric alias, and every method's params model validated against any
JSON value, each refusal ``invalid <param>: <reason>`` with no library phrasing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.api.jsonrpc import INVALID_PARAMS, RpcError
from camera_service.api.methods import all_methods
from camera_service.api.methodtable import MethodSpec, plain_reason
from camera_service.api.wire import device_param
from camera_service.cameras.model import camera_id_for
from tests.support.properties import examples

LIBRARY_PHRASES = ("value error", "input should", "field required", "validation error", "pydantic")
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
REFUSED = r"^(device number must be 0-9999|must be /dev/videoN, a camera id)"
SPECS = [spec for spec in all_methods() if spec.params.model_fields]


def test_a_number_is_its_video_node() -> None:
    assert device_param(0) == "/dev/video0"
    assert device_param(9999) == "/dev/video9999"
    assert device_param("lab") == "lab" and device_param("/dev/video3") == "/dev/video3"
    for bad in (-1, 10_000, 2**64, True, False, 1.0, None, "../x", ["lab"]):
        with pytest.raises(ValueError, match=REFUSED):
            device_param(bad)


@examples(300)
@given(st.integers() | st.booleans())
def test_numbers_name_a_node_only_in_range(n: int) -> None:
    if isinstance(n, bool) or not 0 <= n <= 9999:
        with pytest.raises(ValueError, match=REFUSED):
            device_param(n)
    else:
        assert camera_id_for(device_param(n)) == f"camera{n}"


@examples(300)
@given(st.text(max_size=80))
def test_strings_are_taken_as_the_contract_says(text: str) -> None:
    if camera_id_for(text) is None:
        with pytest.raises(ValueError, match=REFUSED):
            device_param(text)
    else:
        assert device_param(text) == text


def refusal(spec: MethodSpec[Any], raw: dict[str, Any]) -> RpcError | None:
    try:
        spec.validate(raw)
    except RpcError as exc:
        return exc
    return None


def check(spec: MethodSpec[Any], raw: dict[str, Any]) -> None:
    exc = refusal(spec, raw)
    if exc is None:
        return
    assert exc.code == INVALID_PARAMS
    assert exc.data is not None and exc.data["reason"] == "invalid_params"
    param = exc.data["param"]
    assert exc.message.startswith(f"invalid {param.split('.')[0]}: "), exc.message
    assert not any(p in exc.message.lower() for p in LIBRARY_PHRASES), exc.message
    assert "/" not in exc.message.split(":", 1)[1].replace("/dev/video", ""), exc.message


@examples(40)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_every_refusal_is_plain(spec: MethodSpec[Any], data: st.DataObject) -> None:
    names = list(spec.params.model_fields)
    raw = data.draw(st.dictionaries(st.sampled_from(names), JSON, max_size=len(names)))
    check(spec, raw)


def test_the_documented_example() -> None:
    reason = plain_reason("literal_error", {"expected": "'jpg' or 'png'"}, "gif", "format")
    assert reason == "unsupported format 'gif', expected jpg or png"
    assert plain_reason("some_new_type", {}, 1) == "not an accepted value"
