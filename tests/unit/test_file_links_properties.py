"""Properties of the download link claim parser and of the listings' time filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from camera_service.api.methods.files import ListParams
from camera_service.auth.identity import Role
from camera_service.auth.jwt import JwtAuthenticator
from camera_service.auth.scope import MAX_NAME_BYTES, parse_file_claim
from tests.support.properties import examples
from tests.unit.test_jwt import NOW, SECRET

kinds = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=32)
names = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="/\\"),
    min_size=1,
    max_size=80,
).filter(lambda n: n not in (".", "..") and all(ord(c) >= 0x20 for c in n))


@given(kinds, names)
@examples(300)
def test_every_well_formed_claim_parses_to_its_parts_and_round_trips(kind: str, name: str) -> None:
    assert parse_file_claim(f"{kind}/{name}") == (kind, name)
    auth = JwtAuthenticator(SECRET)
    token = auth.mint("u", Role.VIEWER, 60, NOW, file=(kind, name))
    assert auth.verify(token, NOW).file == (kind, name)


@given(st.text(max_size=300))
@examples(500)
def test_whatever_parses_is_one_plain_segment_under_a_plain_kind(value: str) -> None:
    try:
        kind, name = parse_file_claim(value)
    except ValueError:
        return
    assert f"{kind}/{name}" == value
    assert kind.isascii() and kind.isalpha() and kind.islower()
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert all(ord(c) >= 0x20 and c != "\x7f" for c in name)
    assert 1 <= len(name.encode("utf-8")) <= MAX_NAME_BYTES


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none()
    ),
    st.integers(min_value=-23 * 60, max_value=23 * 60),
)
@examples(300)
def test_a_time_is_the_same_instant_as_written_and_naive_is_utc(
    when: datetime, minutes: int
) -> None:
    naive = ListParams.model_validate({"since": when.isoformat()})
    assert naive.since == when.replace(tzinfo=UTC)
    aware = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    p = ListParams.model_validate({"until": aware.isoformat()})
    assert p.until == aware
    assert p.until is not None and p.until.tzinfo is not None


def _expected(value: object) -> datetime | None:
    """What an ISO 8601 time param means, by the standard library; None: not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@given(st.one_of(st.text(max_size=80), st.integers(), st.floats(), st.booleans()))
@examples(300)
def test_a_time_either_parses_to_an_aware_instant_or_is_refused_naming_it(value: object) -> None:
    expected = _expected(value)
    if expected is None:
        with pytest.raises(ValidationError) as refused:
            ListParams.model_validate({"since": value})
        assert refused.value.errors()[0]["loc"] == ("since",)
        return
    assert ListParams.model_validate({"since": value}).since == expected
