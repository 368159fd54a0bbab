"""`camera-service token ...` and `keys ...` run through argparse like cli.py does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest

from camera_service.auth.apikeys import ApiKeyStore
from camera_service.auth.audit import AuditLog
from camera_service.auth.commands import register
from camera_service.auth.identity import AuthError, Role
from camera_service.auth.jwt import JwtAuthenticator, load_or_create_secret
from camera_service.config import Settings, validate
from camera_service.db import Database
from camera_service.dirs import resolve_dirs


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return validate({"storage": {"data_dir": str(tmp_path)}})


def run(
    argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="camera-service")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args, settings)
    out, err = capsys.readouterr()
    return code, out, err


def fields(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines())


def store_for(settings: Settings) -> tuple[Database, ApiKeyStore]:
    db = Database(resolve_dirs(settings).database)
    return db, ApiKeyStore(db)


def test_token_create_uses_service_secret(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["token", "create", "--role", "operator", "--user", "ci"], settings, capsys)
    assert code == 0
    token = out.strip()
    assert out == token + "\n"  # the token and nothing else on stdout
    secret, source = load_or_create_secret(settings, resolve_dirs(settings))
    assert source == "file"
    claims = pyjwt.decode(token, secret, algorithms=["HS256"])
    assert (claims["user_id"], claims["role"]) == ("ci", "operator")
    assert claims["exp"] - claims["iat"] == pytest.approx(86400, abs=1)  # default_ttl
    identity = JwtAuthenticator(secret).verify(token)
    assert identity.role is Role.OPERATOR


def test_token_create_ttl_and_configured_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = validate(
        {"storage": {"data_dir": str(tmp_path)}, "security": {"jwt": {"secret_key": "k" * 40}}}
    )
    code, out, _ = run(
        ["token", "create", "--role", "admin", "--user", "u", "--ttl", "60"], settings, capsys
    )
    assert code == 0
    claims = pyjwt.decode(out.strip(), "k" * 40, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == pytest.approx(60, abs=1)
    assert not resolve_dirs(settings).jwt_secret.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "create", "--role", "root", "--user", "u"],
        ["token", "create", "--role", "admin", "--user", "u", "--ttl", "0"],
        ["token", "create", "--role", "admin", "--user", "u", "--ttl", "nan"],
        ["keys", "create", "--name", "n", "--role", "god"],
        ["keys"],
    ],
)
def test_usage_errors(settings: Settings, argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="camera-service")
    register(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(argv)
    assert info.value.code == 2


def test_keys_create_and_list(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["keys", "create", "--name", "web", "--role", "viewer"], settings, capsys)
    assert code == 0
    created = fields(out)
    assert set(created) == {"key_id", "api_key"}
    assert "cannot be shown again" in err
    db, store = store_for(settings)
    identity = store.verify(created["api_key"])
    assert (identity.key_id, identity.role) == (created["key_id"], Role.VIEWER)

    code, out, _ = run(["keys", "list"], settings, capsys)
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["KEY_ID", "NAME", "ROLE"]
    assert row.split()[:3] == [created["key_id"], "web", "viewer"]
    assert created["api_key"] not in out

    code, out, _ = run(["keys", "list", "--json"], settings, capsys)
    (listed,) = json.loads(out)
    assert listed["key_id"] == created["key_id"]
    assert listed["expires_at"] is None
    assert listed["revoked"] is False
    assert created["api_key"] not in out
    assert not any("hash" in k for k in listed)
    db.close()


def test_keys_create_json_with_ttl(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["keys", "create", "--name", "tmp", "--role", "admin", "--ttl", "3600", "--json"]
    code, out, _ = run(argv, settings, capsys)
    assert code == 0
    data: dict[str, Any] = json.loads(out)
    assert data["api_key"].startswith("csk_")
    assert data["role"] == "admin"
    assert data["expires_at"].endswith("Z")


def test_keys_create_bad_name(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["keys", "create", "--name", "x" * 65, "--role", "admin"], settings, capsys
    )
    assert code == 2
    assert out == ""
    assert "name" in err


def test_keys_revoke(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["keys", "create", "--name", "web", "--role", "viewer"], settings, capsys)
    created = fields(out)
    db, store = store_for(settings)
    identity = store.verify(created["api_key"])
    assert identity.key_id is not None
    assert store.still_valid(identity.key_id, 0.0)  # a "service" session is live

    code, out, _ = run(["keys", "revoke", created["key_id"]], settings, capsys)
    assert code == 0
    assert created["key_id"] in out
    assert not store.still_valid(identity.key_id, 0.0)  # seen on the next call
    with pytest.raises(AuthError):
        store.verify(created["api_key"])

    code, out, _ = run(["keys", "revoke", created["key_id"]], settings, capsys)
    assert code == 0
    assert "already revoked" in out

    events = AuditLog(db).recent(10)
    assert [e["event"] for e in events] == ["key_revoked", "key_created"]
    assert all(e["actor"].startswith("cli") for e in events)
    assert created["api_key"] not in json.dumps(events)
    store.close()
    db.close()


def test_keys_unknown_id(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("revoke", "rotate"):
        code, out, err = run(["keys", command, "k_nosuchkey0"], settings, capsys)
        assert code == 1
        assert out == ""
        assert "k_nosuchkey0" in err


def test_keys_rotate(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["keys", "create", "--name", "app", "--role", "operator"], settings, capsys)
    old = fields(out)
    code, out, err = run(["keys", "rotate", old["key_id"]], settings, capsys)
    assert code == 0
    new = fields(out)
    assert new["replaces"] == old["key_id"]
    assert new["key_id"] != old["key_id"]
    assert "cannot be shown again" in err
    db, store = store_for(settings)
    with pytest.raises(AuthError):
        store.verify(old["api_key"])
    identity = store.verify(new["api_key"])
    assert (identity.role, identity.user_id) == (Role.OPERATOR, "app")

    code, _, err = run(["keys", "rotate", old["key_id"]], settings, capsys)  # revoked now
    assert code == 1
    assert "revoked" in err
    events = AuditLog(db).recent(10)
    assert [e["event"] for e in events] == ["key_rotated", "key_created"]
    assert events[0]["detail"]["old_key_id"] == old["key_id"]
    assert new["api_key"] not in json.dumps(events)
    db.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "create", "--role", "admin", "--user", "u", "--ttl", "1e12"],
        ["keys", "create", "--name", "n", "--role", "viewer", "--ttl", "1e12"],
    ],
)
def test_a_lifetime_past_ten_years_is_refused_naming_the_bound(
    settings: Settings, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="camera-service")
    register(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(argv)
    assert info.value.code == 2
    assert "at most 315360000 seconds (ten years)" in capsys.readouterr().err


def test_keys_list_shows_a_key_whose_expiry_is_past_year_9999(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key made before lifetimes were bounded must not break the listing that an
    operator needs to find its id and revoke it."""
    code, out, _ = run(["keys", "create", "--name", "old", "--role", "viewer"], settings, capsys)
    key_id = fields(out)["key_id"]
    db, _ = store_for(settings)
    db.execute("UPDATE api_keys SET expires_at = ? WHERE key_id = ?", (1e15, key_id))
    db.close()
    code, out, _ = run(["keys", "list"], settings, capsys)
    assert code == 0
    assert "9999-12-31T23:59:59Z" in out.splitlines()[1]
    code, out, _ = run(["keys", "list", "--json"], settings, capsys)
    assert code == 0 and json.loads(out)[0]["expires_at"] == "9999-12-31T23:59:59Z"
    code, _, _ = run(["keys", "revoke", key_id], settings, capsys)
    assert code == 0
