"""API keys: lifecycle, hash-only storage, and cross-process revocation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camera_service.auth.apikeys import ApiKeyStore, UnknownKeyError, hash_key
from camera_service.auth.identity import AuthError, Role
from camera_service.db import Database

NOW = 1_700_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "data" / "camera-service.db")
    yield database
    database.close()


@pytest.fixture
def store(db: Database) -> Iterator[ApiKeyStore]:
    s = ApiKeyStore(db)
    yield s
    s.close()


def refused(store: ApiKeyStore, key: Any, reason: str, now: float = NOW) -> None:
    with pytest.raises(AuthError) as info:
        store.verify(key, now=now)
    assert info.value.reason == reason
    assert reason in info.value.message
    if isinstance(key, str) and key:
        assert key not in info.value.message


def test_create_and_verify(store: ApiKeyStore) -> None:
    key, record = store.create("frontend", "operator", None, now=NOW)
    assert re.fullmatch(r"csk_[A-Za-z0-9_-]{43}", key)
    assert re.fullmatch(r"k_[A-Za-z0-9_-]{10}", record.key_id)
    assert (record.name, record.role, record.expires_at, record.revoked) == (
        "frontend",
        Role.OPERATOR,
        None,
        False,
    )
    identity = store.verify(key, now=NOW)
    assert identity.auth_type == "api_key"
    assert identity.role is Role.OPERATOR
    assert identity.key_id == record.key_id
    assert identity.user_id == "frontend"
    assert identity.expires_at is None


def test_keys_are_unique(store: ApiKeyStore) -> None:
    made = [store.create("k", Role.VIEWER, None) for _ in range(20)]
    assert len({k for k, _ in made}) == 20
    assert len({r.key_id for _, r in made}) == 20


def test_list_never_exposes_secrets(store: ApiKeyStore) -> None:
    key1, r1 = store.create("one", "viewer", None, now=NOW)
    key2, r2 = store.create("two", "admin", 3600, now=NOW + 1)
    records = store.list()
    assert [r.key_id for r in records] == [r1.key_id, r2.key_id]
    assert records[1].expires_at == NOW + 1 + 3600
    text = repr(records) + repr([r.as_dict() for r in records])
    for secret in (key1, key2, hash_key(key1), hash_key(key2)):
        assert secret not in text
    assert not any("hash" in name for name in records[0].as_dict())


def test_revoke(store: ApiKeyStore) -> None:
    key, record = store.create("x", "viewer", None)
    assert store.revoke(record.key_id) is True
    refused(store, key, "invalid")
    assert store.revoke(record.key_id) is False  # already revoked
    assert store.revoke("k_doesnotexi") is False
    listed = store.get(record.key_id)
    assert listed is not None
    assert listed.revoked
    assert listed.revoked_at is not None


def test_rotate(store: ApiKeyStore) -> None:
    old_key, old = store.create("cam-app", "operator", 100, now=NOW)
    new_key, new = store.rotate(old.key_id, now=NOW + 50)
    refused(store, old_key, "invalid", now=NOW + 51)
    identity = store.verify(new_key, now=NOW + 51)
    assert identity.key_id == new.key_id != old.key_id
    assert (new.name, new.role) == ("cam-app", Role.OPERATOR)
    assert new.expires_at == NOW + 150  # same lifetime, counted from the rotation
    assert new_key != old_key


def test_rotate_keeps_no_expiry(store: ApiKeyStore) -> None:
    _, old = store.create("forever", "viewer", None)
    _, new = store.rotate(old.key_id)
    assert new.expires_at is None


def test_rotate_unknown_or_revoked(store: ApiKeyStore) -> None:
    with pytest.raises(UnknownKeyError):
        store.rotate("k_0000000000")
    _, record = store.create("x", "viewer", None)
    store.revoke(record.key_id)
    with pytest.raises(ValueError, match="revoked"):
        store.rotate(record.key_id)
    assert len(store.list()) == 1  # nothing created


def test_expired(store: ApiKeyStore) -> None:
    key, _ = store.create("temp", "viewer", 10, now=NOW)
    assert store.verify(key, now=NOW + 9.5).expires_at == NOW + 10
    refused(store, key, "expired", now=NOW + 10)


@pytest.mark.parametrize(
    "key",
    ["", "csk_", "csk_" + "A" * 43, "not-a-key", "csk_" + "x" * 1000, None, 42],
)
def test_unknown_keys_refused(store: ApiKeyStore, key: Any) -> None:
    store.create("real", "admin", None)
    refused(store, key, "invalid")


def test_near_miss_refused(store: ApiKeyStore) -> None:
    key, _ = store.create("real", "admin", None)
    refused(store, key[:-1] + ("A" if key[-1] != "A" else "B"), "invalid")
    refused(store, key.upper(), "invalid")


@pytest.mark.parametrize(
    ("name", "role", "ttl"),
    [
        ("", "viewer", None),
        ("x" * 65, "viewer", None),
        ("bad\nname", "viewer", None),
        ("   ", "viewer", None),
        ("ok", "root", None),
        ("ok", "viewer", 0),
        ("ok", "viewer", -5),
        ("ok", "viewer", float("nan")),
        ("ok", "viewer", float("inf")),
    ],
)
def test_create_validation(store: ApiKeyStore, name: str, role: str, ttl: float | None) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        store.create(name, role, ttl)
    assert store.list() == []


def test_name_edges_accepted(store: ApiKeyStore) -> None:
    store.create("x" * 64, "viewer", None)
    store.create("Kamera Büro #2", "viewer", 0.5)


def test_revocation_by_another_connection_seen_on_next_call(tmp_path: Path) -> None:
    path = tmp_path / "camera-service.db"
    service_db = Database(path)
    service = ApiKeyStore(service_db)
    key, record = service.create("app", "viewer", None)
    identity = service.verify(key)
    assert identity.key_id is not None
    for _ in range(3):
        assert service.still_valid(identity.key_id, NOW)

    cli_db = Database(path)  # what `camera-service keys revoke` does in its own process
    try:
        assert ApiKeyStore(cli_db).revoke(record.key_id)
    finally:
        cli_db.close()

    assert not service.still_valid(identity.key_id, NOW)
    service.close()
    service_db.close()


def test_still_valid_sees_new_keys_and_expiry(tmp_path: Path) -> None:
    path = tmp_path / "camera-service.db"
    service_db, cli_db = Database(path), Database(path)
    service = ApiKeyStore(service_db)
    assert not service.still_valid("k_unknown000", NOW)  # unknown: refused
    _, record = ApiKeyStore(cli_db).create("late", "viewer", 10, now=NOW)
    assert service.still_valid(record.key_id, NOW + 5)
    assert not service.still_valid(record.key_id, NOW + 10)
    service.close()
    service_db.close()
    cli_db.close()


def test_revocation_through_own_db_connection_seen(store: ApiKeyStore) -> None:
    _, record = store.create("app", "viewer", None)
    assert store.still_valid(record.key_id, NOW)
    store.revoke(record.key_id)
    assert not store.still_valid(record.key_id, NOW)


def test_only_hashes_reach_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "camera-service.db"
    db = Database(path)
    store = ApiKeyStore(db)
    keys = [store.create(f"k{i}", "admin", None)[0] for i in range(3)]
    keys.append(store.rotate(store.list()[0].key_id)[0])
    db.close()
    blob = b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("camera-service.db")
    )
    for key in keys:
        assert key.encode() not in blob
        assert key[4:].encode() not in blob  # not even without the prefix
        assert key[4:24].encode() not in blob
        assert hash_key(key).encode() in blob


def test_mark_used_is_batched(store: ApiKeyStore) -> None:
    _, a = store.create("a", "viewer", None)
    _, b = store.create("b", "viewer", None)
    store.mark_used(a.key_id, now=NOW)
    store.mark_used(a.key_id, now=NOW + 5)
    store.mark_used(b.key_id, now=NOW + 1)
    got = store.get(a.key_id)
    assert got is not None
    assert got.last_used_at is None  # nothing written yet
    assert store.flush_last_used() == 2
    assert store.flush_last_used() == 0
    got_a, got_b = store.get(a.key_id), store.get(b.key_id)
    assert got_a is not None
    assert got_b is not None
    assert (got_a.last_used_at, got_b.last_used_at) == (NOW + 5, NOW + 1)
    store.mark_used(a.key_id, now=NOW - 100)  # an older time never moves it back
    store.flush_last_used()
    got_a = store.get(a.key_id)
    assert got_a is not None
    assert got_a.last_used_at == NOW + 5


# --- camera scopes (issue 15) ---------------------------------------------------------------


def test_a_key_keeps_its_cameras(store: ApiKeyStore) -> None:
    key, record = store.create("door", "viewer", None, now=NOW, cameras=["lab", "door-*", "lab"])
    assert record.cameras == ("lab", "door-*")
    assert store.verify(key, now=NOW).cameras == ("lab", "door-*")
    got = store.get(record.key_id)
    assert got is not None and got.cameras == ("lab", "door-*")
    assert store.list()[0].as_dict()["cameras"] == ["lab", "door-*"]
    new_key, successor = store.rotate(record.key_id, now=NOW + 1)
    assert successor.cameras == ("lab", "door-*")
    assert store.verify(new_key, now=NOW + 1).cameras == ("lab", "door-*")


def test_a_key_without_cameras_sees_every_camera(store: ApiKeyStore) -> None:
    key, record = store.create("all", "viewer", None, now=NOW)
    assert record.cameras is None and record.as_dict()["cameras"] is None
    assert store.verify(key, now=NOW).cameras is None


def test_bad_cameras_are_refused_and_nothing_is_stored(store: ApiKeyStore) -> None:
    with pytest.raises(ValueError, match="camera must"):
        store.create("bad", "viewer", None, cameras=["x y"])
    assert store.list() == []
