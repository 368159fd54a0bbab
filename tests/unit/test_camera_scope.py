"""Camera scopes and media tokens in credentials: the ``cameras`` and ``scope`` JWT
claims, the ``cameras`` field of API keys (and its migration), the CLI's ``--cameras``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camera_service.auth.apikeys import ApiKeyStore, hash_key
from camera_service.auth.identity import AuthError, Role
from camera_service.auth.jwt import JwtAuthenticator, load_or_create_secret
from camera_service.auth.scope import (
    MAX_CAMERAS,
    decode_cameras,
    encode_cameras,
    is_media_scope,
    parse_camera_list,
    parse_cameras,
)
from camera_service.config import validate
from camera_service.db import MIGRATIONS, Database, split_statements
from camera_service.dirs import resolve_dirs
from tests.support.properties import examples
from tests.unit.test_auth_cli import run
from tests.unit.test_jwt import NOW, SECRET, claims, forge

ID_CHARS = "ABCXYZabcxyz0189_-"
ids = st.text(alphabet=ID_CHARS, min_size=1, max_size=64)
patterns = st.text(alphabet=ID_CHARS + "*?", min_size=1, max_size=64)


@pytest.fixture
def jwt() -> JwtAuthenticator:
    return JwtAuthenticator(SECRET)


def refused(jwt: JwtAuthenticator, token: str) -> None:
    with pytest.raises(AuthError) as info:
        jwt.verify(token, now=NOW)
    assert info.value.reason == "invalid"
    assert "invalid" in info.value.message


# --- the grammar -------------------------------------------------------------------------------


def test_ids_and_patterns_are_kept_in_order_without_duplicates() -> None:
    assert parse_cameras(["lab", "door-*", "lab", "cam?"]) == ("lab", "door-*", "cam?")
    assert parse_cameras([]) == ()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "lab",
        {"lab": True},
        [1],
        [None],
        [""],
        ["a" * 65],
        ["la b"],
        ["../x"],
        ["[ab]"],
        ["lab\n"],
        ["lab", 2],
        ["/dev/video0"],
        ["ÿ"],
        ["c"] * (MAX_CAMERAS + 1),
    ],
)
def test_anything_but_a_list_of_ids_or_patterns_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match=r"cameras|camera must"):
        parse_cameras(value)


def test_the_cli_list_is_comma_separated() -> None:
    assert parse_camera_list("lab,camera0") == ("lab", "camera0")
    assert parse_camera_list(" lab , door-* ") == ("lab", "door-*")
    for bad in ("", " , ", "lab,,x", "lab;x"):
        with pytest.raises(ValueError, match="camera"):
            parse_camera_list(bad)


def test_stored_form_round_trips() -> None:
    assert encode_cameras(None) is None and decode_cameras(None) is None
    assert decode_cameras(encode_cameras(("lab", "d-*"))) == ("lab", "d-*")
    assert decode_cameras(encode_cameras(())) == ()


@given(st.lists(patterns, max_size=MAX_CAMERAS))
@examples(300)
def test_every_list_of_patterns_parses_and_round_trips(entries: list[str]) -> None:
    parsed = parse_cameras(entries)
    assert list(parsed) == list(dict.fromkeys(entries))
    assert decode_cameras(encode_cameras(parsed)) == parsed
    assert parse_camera_list(",".join(entries)) == parsed if entries else True


@given(st.lists(st.one_of(st.text(max_size=70), st.integers(), st.none()), max_size=5))
@examples(300)
def test_a_parsed_scope_holds_only_grammar_entries(value: list[Any]) -> None:
    try:
        parsed = parse_cameras(value)
    except ValueError:
        assert any(
            not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9_*?-]{1,64}", v) for v in value
        )
        return
    assert all(re.fullmatch(r"[A-Za-z0-9_*?-]{1,64}", p) for p in parsed)


def _glob(camera_id: str, pattern: str) -> bool:
    conn = sqlite3.connect(":memory:")
    try:
        return bool(conn.execute("SELECT ? GLOB ?", (camera_id, pattern)).fetchone()[0])
    finally:
        conn.close()


@given(ids, patterns)
@examples(300)
def test_a_pattern_means_the_same_to_fnmatch_and_to_sqlite_glob(
    camera_id: str, pattern: str
) -> None:
    # The index filters listings with GLOB, Identity.sees with fnmatchcase.
    assert fnmatch.fnmatchcase(camera_id, pattern) == _glob(camera_id, pattern)


def test_media_scope_values() -> None:
    assert is_media_scope("media") and is_media_scope("openid media") and is_media_scope(["media"])
    assert not is_media_scope("") and not is_media_scope("read write") and not is_media_scope([])
    for bad in (1, None, {"media": 1}, ["media", 2]):
        with pytest.raises(ValueError, match="scope must be"):
            is_media_scope(bad)


# --- the JWT claims ------------------------------------------------------------------------------


def test_no_cameras_claim_is_every_camera(jwt: JwtAuthenticator) -> None:
    identity = jwt.verify(forge(claims()), now=NOW)
    assert identity.cameras is None and identity.media_only is False
    assert identity.sees("anything")


def test_the_cameras_claim_limits_the_identity(jwt: JwtAuthenticator) -> None:
    identity = jwt.verify(forge(claims(cameras=["lab", "door-*"])), now=NOW)
    assert identity.cameras == ("lab", "door-*")
    assert identity.sees("lab") and identity.sees("door-2") and not identity.sees("camera0")
    assert jwt.verify(forge(claims(cameras=[])), now=NOW).cameras == ()


@pytest.mark.parametrize(
    "cameras", [None, "lab", [1], [""], ["a b"], ["../x"], {"lab": 1}, ["x"] * (MAX_CAMERAS + 1)]
)
def test_a_malformed_cameras_claim_makes_the_token_invalid(
    jwt: JwtAuthenticator, cameras: Any
) -> None:
    body = claims()
    body["cameras"] = cameras  # None too: only an absent claim means every camera
    refused(jwt, forge(body))


def test_the_media_scope_marks_a_media_token(jwt: JwtAuthenticator) -> None:
    assert jwt.verify(forge(claims(scope="media")), now=NOW).media_only is True
    assert jwt.verify(forge(claims(scope="read")), now=NOW).media_only is False
    refused(jwt, forge(claims(scope=7)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=ID_CHARS + "*? /", max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@given(st.dictionaries(st.sampled_from(["cameras", "scope"]), JSON))
@examples(200)
def test_any_claim_value_verifies_or_is_invalid_never_crashes(extra: dict[str, Any]) -> None:
    jwt = JwtAuthenticator(SECRET)
    token = forge({**claims(), **extra})
    try:
        identity = jwt.verify(token, now=NOW)
    except AuthError as exc:
        reason = exc.reason
        assert reason == "invalid"
        return
    if "cameras" in extra:
        assert identity.cameras == parse_cameras(extra["cameras"])
    else:
        assert identity.cameras is None


def test_mint_writes_the_claims_verify_reads(jwt: JwtAuthenticator) -> None:
    token = jwt.mint("web", "viewer", 300, now=NOW, cameras=["lab"], media=True)
    identity = jwt.verify(token, now=NOW + 1)
    assert (identity.cameras, identity.media_only, identity.role) == (("lab",), True, Role.VIEWER)
    plain = jwt.verify(jwt.mint("web", "admin", 300, now=NOW), now=NOW)
    assert (plain.cameras, plain.media_only) == (None, False)
    with pytest.raises(ValueError, match="camera must"):
        jwt.mint("web", "viewer", 300, now=NOW, cameras=["a b"])


def test_mint_caps_the_expiry(jwt: JwtAuthenticator) -> None:
    token = jwt.mint("web", "viewer", 300, now=NOW, expires_at=NOW + 60.7)
    assert jwt.verify(token, now=NOW).expires_at == NOW + 60


# --- API keys ----------------------------------------------------------------------------------


def test_keys_made_before_the_cameras_column_keep_every_camera(tmp_path: Path) -> None:
    # A database as the release before the column left it, with a key in it.
    path = tmp_path / "camera-service.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, sql in MIGRATIONS:
        if version >= 7:
            break
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, NOW))
    key = "csk_" + "k" * 43
    conn.execute(
        "INSERT INTO api_keys (key_id, name, role, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        ("k_oldoldold", "old", "operator", hash_key(key), NOW),
    )
    conn.commit()
    conn.close()

    db = Database(path)  # migrates
    try:
        assert db.schema_version() == MIGRATIONS[-1][0]
        store = ApiKeyStore(db)
        identity = store.verify(key, now=NOW)
        assert (identity.role, identity.cameras) == (Role.OPERATOR, None)
        record = store.get("k_oldoldold")
        assert record is not None and record.cameras is None
        store.close()
    finally:
        db.close()


def test_keys_list_shows_cameras(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = validate({"storage": {"data_dir": str(tmp_path)}})
    code, out, _ = run(
        ["keys", "create", "--name", "door", "--role", "viewer", "--cameras", "lab,door-*"],
        settings,
        capsys,
    )
    assert code == 0
    code, out, _ = run(["keys", "create", "--name", "all", "--role", "viewer"], settings, capsys)
    code, out, _ = run(["keys", "list"], settings, capsys)
    header, door, every = out.splitlines()
    assert header.split()[3] == "CAMERAS"
    assert door.split()[3] == "lab,door-*" and every.split()[3] == "all"
    code, out, _ = run(["keys", "list", "--json"], settings, capsys)
    assert [k["cameras"] for k in json.loads(out)] == [["lab", "door-*"], None]
    with pytest.raises(SystemExit) as exited:
        run(
            ["keys", "create", "--name", "x", "--role", "viewer", "--cameras", "a b"],
            settings,
            capsys,
        )
    assert exited.value.code == 2 and "--cameras" in capsys.readouterr().err


def test_token_create_mints_the_cameras_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = validate({"storage": {"data_dir": str(tmp_path)}})
    argv = ["token", "create", "--role", "viewer", "--user", "door", "--cameras", "lab,camera0"]
    code, out, _ = run(argv, settings, capsys)
    assert code == 0
    secret, _source = load_or_create_secret(settings, resolve_dirs(settings))
    assert JwtAuthenticator(secret).verify(out.strip()).cameras == ("lab", "camera0")
    code, out, _ = run(["token", "create", "--role", "viewer", "--user", "x"], settings, capsys)
    assert JwtAuthenticator(secret).verify(out.strip()).cameras is None
