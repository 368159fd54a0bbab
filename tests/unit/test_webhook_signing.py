"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``, and the header parsers."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from camera_service.integrations import signing
from tests.support.properties import examples

KEY = b"0123456789abcdef-secret"
NOW = 1_700_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"camera.status"}'
    expected = hmac.new(KEY, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.signature(KEY, NOW, body) == f"sha256={expected}"


def test_verify_refuses_tampering_other_keys_and_old_timestamps() -> None:
    body = b'{"a":1}'
    sig = signing.signature(KEY, NOW, body)
    assert signing.verify(KEY, body, sig, str(NOW), NOW + 10)
    assert not signing.verify(KEY, body + b" ", sig, str(NOW), NOW)
    assert not signing.verify(b"another key", body, sig, str(NOW), NOW)
    assert not signing.verify(KEY, body, sig, str(NOW + 1), NOW)  # the timestamp is signed
    assert not signing.verify(KEY, body, sig, str(NOW), NOW + signing.DEFAULT_TOLERANCE + 1)
    assert not signing.verify(KEY, body, "sha1=" + sig[7:], str(NOW), NOW)
    assert not signing.verify(KEY, body, sig, "soon", NOW)


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=2048), st.integers(0, 10**11))
@examples(200)
def test_sign_then_verify(key: bytes, body: bytes, ts: int) -> None:
    sig = signing.signature(key, ts, body)
    assert signing.parse_signature(sig) is not None
    assert signing.verify(key, body, sig, str(ts), ts)
    assert not signing.verify(key, body + b"x", sig, str(ts), ts)


@given(st.text(max_size=120))
@examples(300)
def test_header_parsers_never_fail(value: str) -> None:
    digest = signing.parse_signature(value)
    assert digest is None or len(digest) == 32
    ts = signing.parse_timestamp(value)
    assert ts is None or (ts >= 0 and str(ts) == value.strip().lstrip("0").rjust(1, "0"))
    assert signing.verify(KEY, b"", value, value, NOW) in (True, False)
