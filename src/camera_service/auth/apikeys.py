"""API keys: long-lived credentials for services, managed with the CLI.

A key is ``csk_`` + 256 random bits. Only its SHA-256 is stored. A slow password KDF
(bcrypt, scrypt, argon2) protects low-entropy human passwords against guessing; a
256-bit random key cannot be guessed, so a plain hash is as safe and keeps `verify`
at microseconds. The public ``key_id`` (``k_`` + 10 characters) names a key in the
CLI, the audit log and the session, and is never enough to authenticate.

In the service every method that touches the database (all but ``still_valid`` and
``mark_used``) runs on the DB worker thread: ``await adb.run(store.verify, key)``.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import secrets
import sqlite3
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

from camera_service.auth.identity import AuthError, Identity, Role, validate_ttl
from camera_service.auth.scope import decode_cameras, encode_cameras, parse_cameras
from camera_service.db import Database, connect

log = logging.getLogger(__name__)

KEY_PREFIX = "csk_"
KEY_ID_PREFIX = "k_"
KEY_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
MAX_NAME_CHARS = 64
MAX_KEY_CHARS = 256  # a real key is 47 characters

INVALID = "Authentication failed: invalid API key"
EXPIRED = "Authentication failed: API key expired"

_COLUMNS = "key_id, name, role, created_at, expires_at, last_used_at, revoked, revoked_at, cameras"


class UnknownKeyError(LookupError):
    """No key with this key_id."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key with id {key_id!r}")
        self.key_id = key_id


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """What may be shown about a key: never its hash or plaintext."""

    key_id: str
    name: str
    role: Role
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked: bool
    revoked_at: float | None
    cameras: tuple[str, ...] | None = None  # ids or patterns; None: every camera

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ApiKeyRecord:
        return cls(
            key_id=row["key_id"],
            name=row["name"],
            role=Role.parse(row["role"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            last_used_at=row["last_used_at"],
            revoked=bool(row["revoked"]),
            revoked_at=row["revoked_at"],
            cameras=decode_cameras(row["cameras"]),
        )

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (CLI ``--json``, admin methods); times are unix seconds."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked": self.revoked,
            "revoked_at": self.revoked_at,
            "cameras": None if self.cameras is None else list(self.cameras),
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def validate_name(name: object) -> str:
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= MAX_NAME_CHARS
        or not name.isprintable()
        or not name.strip()
    ):
        raise ValueError(
            f"key name must be 1-{MAX_NAME_CHARS} printable characters, not only spaces"
        )
    return name


def key_ttl(ttl_seconds: object) -> float | None:
    """An API key's lifetime: None (never expires) or a bounded ``validate_ttl``."""
    return None if ttl_seconds is None else validate_ttl(ttl_seconds)


class ApiKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # still_valid's view: key_id -> (revoked, expires_at), refreshed when
        # PRAGMA data_version on the private read connection says the file changed.
        self._read_conn: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._view: dict[str, tuple[bool, float | None]] = {}
        self._used: dict[str, float] = {}
        self._used_lock = threading.Lock()

    # --- management (CLI, or the DB worker thread) ---------------------------------

    def create(
        self,
        name: str,
        role: Role | str,
        ttl_seconds: float | None,
        now: float | None = None,
        cameras: builtins.list[str] | tuple[str, ...] | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Returns the plaintext key, which is not stored and cannot be shown again.
        ``cameras`` (ids or patterns) limits the key; None: every camera."""
        name = validate_name(name)
        role = role if isinstance(role, Role) else Role.parse(role)
        ttl = key_ttl(ttl_seconds)
        scope = None if cameras is None else parse_cameras(builtins.list(cameras))
        with self._db.transaction() as conn:
            return self._insert(conn, name, role, ttl, time.time() if now is None else now, scope)

    def _insert(
        self,
        conn: sqlite3.Connection,
        name: str,
        role: Role,
        ttl: float | None,
        now: float,
        cameras: tuple[str, ...] | None,
    ) -> tuple[str, ApiKeyRecord]:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        expires_at = None if ttl is None else now + ttl
        for _ in range(5):  # 64**10 ids: a collision is astronomically unlikely
            key_id = KEY_ID_PREFIX + "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(10))
            try:
                conn.execute(
                    "INSERT INTO api_keys"
                    " (key_id, name, role, key_hash, created_at, expires_at, cameras)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        key_id,
                        name,
                        role.label,
                        hash_key(key),
                        now,
                        expires_at,
                        encode_cameras(cameras),
                    ),
                )
            except sqlite3.IntegrityError:
                continue
            record = ApiKeyRecord(key_id, name, role, now, expires_at, None, False, None, cameras)
            return key, record
        raise RuntimeError("could not allocate a unique key_id")

    def get(self, key_id: str) -> ApiKeyRecord | None:
        row = self._db.query_one(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        return None if row is None else ApiKeyRecord.from_row(row)

    def list(self) -> builtins.list[ApiKeyRecord]:
        rows = self._db.query(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id")
        return [ApiKeyRecord.from_row(r) for r in rows]

    def revoke(self, key_id: str, now: float | None = None) -> bool:
        """True if the key was active and is now revoked; False if unknown or already."""
        now = time.time() if now is None else now
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked = 1, revoked_at = ? WHERE key_id = ? AND revoked = 0",
                (now, key_id),
            )
        return cur.rowcount == 1

    def rotate(self, key_id: str, now: float | None = None) -> tuple[str, ApiKeyRecord]:
        """Revoke a key and issue its successor in one transaction.

        The successor keeps name, role and cameras, and the same lifetime counted from now.
        A revoked key is not rotated: that would undo a deliberate revocation.
        """
        now = time.time() if now is None else now
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            if row is None:
                raise UnknownKeyError(key_id)
            old = ApiKeyRecord.from_row(row)
            if old.revoked:
                raise ValueError(f"API key {key_id} is revoked; create a new key instead")
            ttl = None if old.expires_at is None else old.expires_at - old.created_at
            conn.execute(
                "UPDATE api_keys SET revoked = 1, revoked_at = ? WHERE key_id = ?", (now, key_id)
            )
            return self._insert(conn, old.name, old.role, ttl, now, old.cameras)

    # --- authentication -------------------------------------------------------------

    def verify(self, key: str, now: float | None = None) -> Identity:
        """Raise AuthError("invalid"|"expired"); messages never echo the key."""
        if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_CHARS:
            raise AuthError("invalid", INVALID)
        digest = hash_key(key)
        row = self._db.query_one(
            f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE key_hash = ?", (digest,)
        )
        # The lookup is by hash, which leaks nothing useful about the key; the
        # constant-time compare keeps the final check free of timing differences.
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            raise AuthError("invalid", INVALID)
        record = ApiKeyRecord.from_row(row)
        if record.revoked:
            raise AuthError("invalid", INVALID)
        if record.expired(time.time() if now is None else now):
            raise AuthError("expired", EXPIRED)
        return Identity(
            user_id=record.name,
            role=record.role,
            auth_type="api_key",
            expires_at=record.expires_at,
            key_id=record.key_id,
            cameras=record.cameras,
        )

    def still_valid(self, key_id: str, now: float) -> bool:
        """Per-call re-check on the event loop: one PRAGMA when nothing changed.

        ``PRAGMA data_version`` on this store's own connection changes only when
        another connection (the service's DB thread, or the CLI in another process)
        commits, so a revocation is seen on the very next call without polling.
        """
        if self._read_conn is None:
            # Short busy timeout: this runs on the event loop.
            self._read_conn = connect(self._db.path, busy_timeout_ms=200)
        try:
            version = self._read_conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                rows = self._read_conn.execute(
                    "SELECT key_id, revoked, expires_at FROM api_keys"
                ).fetchall()
                self._view = {r[0]: (bool(r[1]), r[2]) for r in rows}
                self._data_version = version
        except sqlite3.Error as exc:  # keep the last view; retried on the next call
            log.warning("API key revocation check failed, using last known state: %s", exc)
        state = self._view.get(key_id)
        if state is None:
            return False
        revoked, expires_at = state
        return not revoked and (expires_at is None or now < expires_at)

    def mark_used(self, key_id: str, now: float | None = None) -> None:
        """O(1) on the loop; written by flush_last_used, so a busy key costs no writes."""
        with self._used_lock:
            self._used[key_id] = time.time() if now is None else now

    def flush_last_used(self) -> int:
        """Write batched last_used_at times (DB worker thread); returns keys updated."""
        with self._used_lock:
            pending, self._used = self._used, {}
        if not pending:
            return 0
        try:
            with self._db.transaction() as conn:
                conn.executemany(
                    "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?)"
                    " WHERE key_id = ?",
                    [(ts, key_id) for key_id, ts in pending.items()],
                )
        except BaseException:
            with self._used_lock:  # keep them for the next flush; newer times win
                for key_id, ts in pending.items():
                    self._used[key_id] = max(ts, self._used.get(key_id, ts))
            raise
        return len(pending)

    def close(self) -> None:
        if self._read_conn is not None:
            self._read_conn.close()
            self._read_conn = None
