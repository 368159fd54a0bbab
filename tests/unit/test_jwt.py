"""JWT verification against the api.md §2 contract, and the shared secret file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
import threading
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from camera_service.auth.identity import AuthError, Role
from camera_service.auth.jwt import (
    JwtAuthenticator,
    _b64decode,
    _b64encode,
    load_or_create_secret,
)
from camera_service.config import Settings, validate
from camera_service.dirs import resolve_dirs
from camera_service.observability.health import iso

SECRET = "0123456789abcdef" * 4
NOW = 1_700_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    payload: dict[str, Any],
    header: dict[str, Any] | None = None,
    key: str = SECRET,
    digest: Any = hashlib.sha256,
    signature: str | None = None,
) -> str:
    """Build a token by hand, so tests do not depend on PyJWT's encoder."""
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    if signature is None:
        mac = hmac.new(key.encode(), f"{head}.{body}".encode(), digest).digest()
        signature = b64(mac)
    return f"{head}.{body}.{signature}"


def claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"user_id": "alice", "role": "operator", "iat": NOW, "exp": NOW + 60}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def auth() -> JwtAuthenticator:
    return JwtAuthenticator(SECRET)


def refused(auth: JwtAuthenticator, token: Any, reason: str = "invalid") -> AuthError:
    with pytest.raises(AuthError) as info:
        auth.verify(token, now=NOW)
    err = info.value
    assert err.reason == reason
    assert reason in err.message
    if isinstance(token, str) and token:
        for part in token.split("."):
            assert len(part) < 8 or part not in err.message
    return err


def test_valid_hand_built_token(auth: JwtAuthenticator) -> None:
    identity = auth.verify(forge(claims()), now=NOW)
    assert identity.user_id == "alice"
    assert identity.role is Role.OPERATOR
    assert identity.auth_type == "jwt"
    assert identity.expires_at == NOW + 60
    assert identity.key_id is None


def test_mint_round_trip(auth: JwtAuthenticator) -> None:
    token = auth.mint("bob", "admin", 3600, now=NOW)
    identity = auth.verify(token, now=NOW + 1)
    assert (identity.user_id, identity.role) == ("bob", Role.ADMIN)
    decoded = pyjwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert decoded == {"user_id": "bob", "role": "admin", "iat": int(NOW), "exp": int(NOW) + 3600}


def test_expired(auth: JwtAuthenticator) -> None:
    token = forge(claims(exp=NOW - 1))
    err = refused(auth, token, "expired")
    assert err.message == "Authentication failed: token expired"


def test_expiry_boundary(auth: JwtAuthenticator) -> None:
    token = forge(claims(exp=NOW + 10))
    auth.verify(token, now=NOW + 9.999)
    with pytest.raises(AuthError) as info:
        auth.verify(token, now=NOW + 10)
    assert info.value.reason == "expired"


def test_alg_none_refused(auth: JwtAuthenticator) -> None:
    for alg in ("none", "None", "NONE"):
        token = forge(claims(), header={"alg": alg, "typ": "JWT"}, signature="")
        err = refused(auth, token)
        assert err.message == "Authentication failed: invalid token"


def test_hs512_refused_even_with_right_secret(auth: JwtAuthenticator) -> None:
    token = forge(claims(), header={"alg": "HS512", "typ": "JWT"}, digest=hashlib.sha512)
    refused(auth, token)
    refused(auth, pyjwt.encode(claims(), SECRET, algorithm="HS512"))


def test_rs256_header_refused(auth: JwtAuthenticator) -> None:
    # Key confusion: an HMAC signature under an RS256 header must not be accepted.
    refused(auth, forge(claims(), header={"alg": "RS256", "typ": "JWT"}))
    refused(auth, forge(claims(), header={"typ": "JWT"}))  # no alg at all


def test_wrong_secret(auth: JwtAuthenticator) -> None:
    refused(auth, forge(claims(), key="another-secret-" * 4))


def test_tampered_payload(auth: JwtAuthenticator) -> None:
    head, _, sig = forge(claims()).split(".")
    body = b64(json.dumps(claims(role="admin")).encode())
    refused(auth, f"{head}.{body}.{sig}")


@pytest.mark.parametrize("missing", ["user_id", "role", "exp"])
def test_missing_required_claim(auth: JwtAuthenticator, missing: str) -> None:
    payload = claims()
    del payload[missing]
    refused(auth, forge(payload))


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "superuser"},
        {"role": 3},
        {"role": ""},
        {"user_id": 42},
        {"user_id": ""},
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": "yesterday"},
        {"nbf": NOW + 30},
    ],
)
def test_bad_claims(auth: JwtAuthenticator, bad: dict[str, Any]) -> None:
    refused(auth, forge(claims(**bad)))


def test_float_times_accepted(auth: JwtAuthenticator) -> None:
    identity = auth.verify(forge(claims(iat=NOW - 0.25, exp=NOW + 0.5)), now=NOW)
    assert identity.expires_at == NOW + 0.5


def test_iat_optional(auth: JwtAuthenticator) -> None:
    payload = claims()
    del payload["iat"]
    assert auth.verify(forge(payload), now=NOW).user_id == "alice"


def test_future_iat_accepted(auth: JwtAuthenticator) -> None:
    # Hubs without a real-time clock may run behind; iat is informational.
    assert auth.verify(forge(claims(iat=NOW + 3600, exp=NOW + 7200)), now=NOW)


def test_role_case_insensitive(auth: JwtAuthenticator) -> None:
    assert auth.verify(forge(claims(role="Admin")), now=NOW).role is Role.ADMIN


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "...", "x" * 10_000, None, 123, b"bytes"]
)
def test_garbage_refused(auth: JwtAuthenticator, token: Any) -> None:
    refused(auth, token)


def test_payload_not_an_object(auth: JwtAuthenticator) -> None:
    head = b64(b'{"alg":"HS256"}')
    body = b64(b"[1,2,3]")
    sig = b64(hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    refused(auth, f"{head}.{body}.{sig}")


def test_mint_validates() -> None:
    auth = JwtAuthenticator(SECRET)
    with pytest.raises(ValueError, match="ttl"):
        auth.mint("u", "viewer", 0)
    with pytest.raises(ValueError, match="role"):
        auth.mint("u", "root", 60)
    with pytest.raises(ValueError, match="user_id"):
        auth.mint("", "viewer", 60)
    with pytest.raises(ValueError, match="empty"):
        JwtAuthenticator("")


# --- the secret ------------------------------------------------------------------------


def settings_for(tmp_path: Path, secret: str | None = None) -> Settings:
    data: dict[str, Any] = {"storage": {"data_dir": str(tmp_path / "data")}}
    if secret is not None:
        data["security"] = {"jwt": {"secret_key": secret}}
    return validate(data)


def test_secret_generated_private_and_reused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    paths = resolve_dirs(settings)
    secret, source = load_or_create_secret(settings, paths)
    assert source == "file"
    assert len(secret) == 64
    int(secret, 16)  # 256 bits of hex
    assert stat.S_IMODE(paths.jwt_secret.stat().st_mode) == 0o600
    assert paths.jwt_secret.read_text().strip() == secret
    assert load_or_create_secret(settings, paths) == (secret, "file")
    assert [p.name for p in paths.data_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_secret_differs_per_install(tmp_path: Path) -> None:
    secrets = []
    for name in ("a", "b"):
        settings = settings_for(tmp_path / name)
        secrets.append(load_or_create_secret(settings, resolve_dirs(settings))[0])
    assert secrets[0] != secrets[1]


def test_concurrent_first_use_agrees(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    paths = resolve_dirs(settings)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def worker() -> None:
        barrier.wait()
        results.append(load_or_create_secret(settings, paths)[0])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert paths.jwt_secret.read_text().strip() == results[0]


def test_configured_secret_wins(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "c" * 40)
    paths = resolve_dirs(settings)
    assert load_or_create_secret(settings, paths) == ("c" * 40, "config")
    assert not paths.jwt_secret.exists()


def test_configured_secret_wins_over_existing_file(tmp_path: Path) -> None:
    plain = settings_for(tmp_path)
    file_secret, _ = load_or_create_secret(plain, resolve_dirs(plain))
    configured = settings_for(tmp_path, "d" * 40)
    assert load_or_create_secret(configured, resolve_dirs(configured))[0] == "d" * 40
    assert file_secret != "d" * 40


def test_short_configured_secret_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path, "short")
    with caplog.at_level(logging.WARNING, logger="camera_service.auth.jwt"):
        secret, source = load_or_create_secret(settings, resolve_dirs(settings))
    assert (secret, source) == ("short", "config")
    assert "only 5 characters" in caplog.text
    assert "short" not in caplog.text.replace("only 5", "")
    auth = JwtAuthenticator(secret)
    assert auth.verify(auth.mint("u", "viewer", 60)).role is Role.VIEWER


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    paths = resolve_dirs(settings)
    paths.jwt_secret.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_or_create_secret(settings, paths)


# --- the HS256 codec itself, against tokens PyJWT (an independent implementation) makes ---


def _pyjwt(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    return pyjwt.encode(claims, SECRET, algorithm="HS256", headers=headers)


def _valid_claims() -> dict[str, Any]:
    import time

    return {"user_id": "u", "role": "viewer", "exp": time.time() + 60}


def test_tokens_minted_by_either_side_verify_on_the_other() -> None:
    auth = JwtAuthenticator(SECRET)
    assert auth.verify(_pyjwt(_valid_claims())).user_id == "u"
    ours = auth.mint("me", "admin", 60)
    decoded = pyjwt.decode(ours, SECRET, algorithms=["HS256"])
    assert decoded["user_id"] == "me" and decoded["role"] == "admin"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".extra",  # four parts
        lambda t: t.rsplit(".", 1)[0],  # two parts
        lambda t: t + "=",  # padding is not base64url
        lambda t: t.replace(".", ".é", 1),  # not ASCII
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # signature changed
        lambda t: ".".join([t.split(".")[0], t.split(".")[1][:-1] + "A", t.split(".")[2]]),
        lambda t: t.split(".")[0] + "..",  # empty payload and signature
    ],
)
def test_mangled_tokens_are_invalid(mangle: Any) -> None:
    token = mangle(_pyjwt(_valid_claims()))
    with pytest.raises(AuthError) as exc:
        JwtAuthenticator(SECRET).verify(token)
    assert exc.value.reason == "invalid"


def test_crit_header_refused() -> None:
    token = _pyjwt(_valid_claims(), headers={"crit": ["exp"]})
    with pytest.raises(AuthError):
        JwtAuthenticator(SECRET).verify(token)


# --- canonical encoding and bounded lifetimes -------------------------------------------


def _with_last_char(part: str, delta: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return part[:-1] + alphabet[alphabet.index(part[-1]) + delta]


def test_a_signature_differing_only_in_unused_bits_is_refused(auth: JwtAuthenticator) -> None:
    # 32 bytes of HMAC take 43 characters, whose last 2 bits carry nothing: flipping
    # them decodes to the same bytes, which a lenient decoder accepts (malleability).
    token = auth.mint("bob", "admin", 3600, now=NOW)
    head, body, sig = token.split(".")
    assert len(sig) == 43
    delta = 1 if sig[-1] in "AEIMQUYcgkosw048" else -1  # stay inside the same 4-value group
    twin = f"{head}.{body}.{_with_last_char(sig, delta)}"
    assert base64.urlsafe_b64decode(twin.split(".")[2] + "=") == base64.urlsafe_b64decode(sig + "=")
    auth.verify(token, now=NOW)
    refused(auth, twin)


def test_a_payload_in_non_canonical_base64_is_refused(auth: JwtAuthenticator) -> None:
    # A 2-byte tail leaves 2 unused bits in the last character; padding the claims to
    # that length keeps the signature over the altered text valid, so only the
    # canonical-encoding rule refuses it.
    for pad in range(3):
        payload = claims(user_id="a" * (5 + pad))
        raw = json.dumps(payload).encode()
        if len(raw) % 3 == 2:
            break
    body = b64(raw)
    twin_body = _with_last_char(body, 1 if body[-1] in "AEIMQUYcgkosw048" else -1)
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    mac = hmac.new(SECRET.encode(), f"{head}.{twin_body}".encode(), hashlib.sha256).digest()
    refused(auth, f"{head}.{twin_body}.{b64(mac)}")


def test_ttl_is_bounded_at_mint_and_the_bound_is_named() -> None:
    auth = JwtAuthenticator(SECRET)
    auth.mint("u", "viewer", 10 * 365 * 86400)
    with pytest.raises(ValueError, match="at most 315360000 seconds"):
        auth.mint("u", "viewer", 1e12)


def test_a_far_future_expiry_verifies_and_renders(auth: JwtAuthenticator) -> None:
    # Signed by hand with the secret: not refused, and its expiry can be shown.
    identity = auth.verify(forge(claims(exp=1e30)), now=NOW)
    assert identity.expires_at == 1e30
    assert iso(identity.expires_at) == "9999-12-31T23:59:59Z"
    assert iso(-1e30) == "0001-01-01T00:00:00Z"


@examples(max_examples=300, deadline=None)
@given(st.binary(max_size=96))
def test_base64url_round_trips(data: bytes) -> None:
    assert _b64decode(_b64encode(data)) == data


B64_LIKE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. "


@examples(max_examples=500, deadline=None)
@given(st.text(alphabet=B64_LIKE, max_size=64))
def test_base64url_accepts_exactly_one_encoding_per_value(text: str) -> None:
    try:
        data = _b64decode(text)
    except ValueError:
        return
    assert _b64encode(data) == text


@examples(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_verify_refuses_garbage_with_auth_errors_only(text: str) -> None:
    with pytest.raises(AuthError):
        JwtAuthenticator(SECRET).verify(text, now=NOW)
