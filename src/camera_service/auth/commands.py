"""``camera-service token ...`` and ``camera-service keys ...``.

These run in a separate process from the service, against the same data dir: the
token is signed with the secret the service uses, and key changes go straight to
the shared SQLite file, where the running service sees a revocation on its next
call (see ``ApiKeyStore.still_valid``). Secrets go to stdout only when they are the
output asked for; messages go to stderr.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import re
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from camera_service.auth.apikeys import ApiKeyRecord, ApiKeyStore, UnknownKeyError
from camera_service.auth.audit import AuditLog
from camera_service.auth.identity import Role, validate_ttl
from camera_service.auth.jwt import JwtAuthenticator, load_or_create_secret
from camera_service.auth.scope import parse_camera_list
from camera_service.config import Settings
from camera_service.db import Database
from camera_service.dirs import resolve_dirs
from camera_service.observability.health import iso

Handler = Callable[[argparse.Namespace, Settings], int]
CAMERAS_HELP = (
    "only these cameras: comma-separated ids or patterns with * and ? "
    "(e.g. lab,door-*; default: every camera)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = subparsers.add_parser("token", help="mint JWTs for clients")
    token_sub = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    p = token_sub.add_parser(
        "create", help="print a signed JWT (HS256, the service's secret) on stdout"
    )
    p.add_argument("--role", required=True, type=_role, help="viewer, operator or admin")
    p.add_argument("--user", required=True, help="user_id claim")
    p.add_argument(
        "--ttl",
        type=_ttl,
        help="lifetime in seconds, at most ten years (default security.jwt.default_ttl)",
    )
    p.add_argument("--cameras", type=_cameras, help=CAMERAS_HELP)
    p.set_defaults(func=token_create)

    p = subparsers.add_parser(
        "dashboard-link",
        help="print a link that opens the web dashboard signed in (a JWT in its fragment)",
    )
    p.add_argument("--role", required=True, type=_role, help="viewer, operator or admin")
    p.add_argument(
        "--ttl",
        required=True,
        type=_link_ttl,
        help="how long the link works: seconds, or a number with s, m, h or d (e.g. 8h)",
    )
    p.add_argument("--user", default="dashboard-link", help="user_id claim (default: %(default)s)")
    p.add_argument("--cameras", type=_cameras, help=CAMERAS_HELP)
    p.add_argument(
        "--host",
        help="host name in the link (default: mediamtx.public_host, else this machine's name)",
    )
    p.set_defaults(func=dashboard_link)

    keys = subparsers.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    p = keys_sub.add_parser("create", help="create a key; it is shown once")
    p.add_argument("--name", required=True, help="label, 1-64 printable characters")
    p.add_argument("--role", required=True, type=_role, help="viewer, operator or admin")
    p.add_argument(
        "--ttl", type=_ttl, help="lifetime in seconds, at most ten years (default: never)"
    )
    p.add_argument("--cameras", type=_cameras, help=CAMERAS_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=keys_create)

    p = keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=keys_list)

    p = keys_sub.add_parser("revoke", help="revoke a key; live sessions using it stop at once")
    p.add_argument("key_id", metavar="KEY_ID")
    p.set_defaults(func=keys_revoke)

    p = keys_sub.add_parser("rotate", help="revoke a key and create its replacement")
    p.add_argument("key_id", metavar="KEY_ID")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=keys_rotate)


def _role(value: str) -> Role:
    try:
        return Role.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ttl(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    try:
        return validate_ttl(seconds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([smhd]?)", re.ASCII)


def parse_ttl(value: str) -> float:
    """``"90"``, ``"90s"``, ``"1.5m"``, ``"8h"``, ``"2d"`` as seconds (more than 0, at
    most ten years: ``validate_ttl``); anything else is a ``ValueError``."""
    found = _DURATION.fullmatch(value.strip().lower())
    if found is None:
        raise ValueError(f"not a duration (seconds, or a number with s, m, h or d): {value!r}")
    return validate_ttl(float(found.group(1)) * _UNITS[found.group(2)])


def _link_ttl(value: str) -> float:
    try:
        return parse_ttl(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cameras(value: str) -> tuple[str, ...]:
    try:
        return parse_camera_list(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "cli"


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _handles_errors(fn: Handler) -> Handler:
    """Turn expected failures into a message and an exit code, not a traceback."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return fn(args, settings)
        except ValueError as exc:
            _err(str(exc))
            return 2
        except (OSError, sqlite3.Error) as exc:
            _err(f"cannot use the data dir: {exc}")
            return 1

    return wrapper


class _Keys:
    """The database, key store and audit log one command needs, closed together."""

    def __init__(self, settings: Settings) -> None:
        self.db = Database(resolve_dirs(settings).database)
        self.store = ApiKeyStore(self.db)
        self.audit = AuditLog(self.db)

    def __enter__(self) -> _Keys:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.audit.flush_sync()
        finally:
            self.store.close()
            self.db.close()


def _json_record(record: ApiKeyRecord) -> dict[str, Any]:
    data = record.as_dict()
    for k in ("created_at", "expires_at", "last_used_at", "revoked_at"):
        data[k] = _iso(data[k])
    return data


def _print_new_key(key: str, record: ApiKeyRecord, as_json: bool, **extra: str) -> None:
    if as_json:
        print(json.dumps({**extra, **_json_record(record), "api_key": key}, indent=2))
    else:
        for name, value in extra.items():
            print(f"{name}: {value}")
        print(f"key_id: {record.key_id}")
        print(f"api_key: {key}")
    print("Store the key now: it is not saved and cannot be shown again.", file=sys.stderr)


@_handles_errors
def token_create(args: argparse.Namespace, settings: Settings) -> int:
    secret, _source = load_or_create_secret(settings, resolve_dirs(settings))
    ttl = args.ttl if args.ttl is not None else settings.security.jwt.default_ttl
    print(JwtAuthenticator(secret).mint(args.user, args.role, ttl, cameras=args.cameras))
    return 0


@_handles_errors
def dashboard_link(args: argparse.Namespace, settings: Settings) -> int:
    """The dashboard's URL on the health port with a JWT in the fragment (``#token=``):
    a fragment never reaches a server or its logs; the page moves it to sessionStorage."""
    secret, _source = load_or_create_secret(settings, resolve_dirs(settings))
    token = JwtAuthenticator(secret).mint(args.user, args.role, args.ttl, cameras=args.cameras)
    host = args.host or settings.mediamtx.public_host or socket.gethostname()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    scheme = "http"  # the health port serves plain HTTP
    print(f"{scheme}://{host}:{settings.health.port}/#token={token}")
    print(
        f"Anyone with this link signs in as {args.role.label} until it expires "
        f"({iso(time.time() + args.ttl)}).",
        file=sys.stderr,
    )
    return 0


@_handles_errors
def keys_create(args: argparse.Namespace, settings: Settings) -> int:
    with _Keys(settings) as k:
        key, record = k.store.create(args.name, args.role, args.ttl, cameras=args.cameras)
        k.audit.record(
            "key_created",
            _actor(),
            key_id=record.key_id,
            name=record.name,
            role=record.role.label,
            expires_at=record.expires_at,
            cameras=None if record.cameras is None else list(record.cameras),
        )
    _print_new_key(key, record, args.json)
    return 0


@_handles_errors
def keys_list(args: argparse.Namespace, settings: Settings) -> int:
    with _Keys(settings) as k:
        records = k.store.list()
    if args.json:
        print(json.dumps([_json_record(r) for r in records], indent=2))
        return 0
    header = ("KEY_ID", "NAME", "ROLE", "CAMERAS", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
    rows = [header] + [
        (
            r.key_id,
            r.name,
            r.role.label,
            "all" if r.cameras is None else ",".join(r.cameras) or "none",
            _iso(r.created_at) or "-",
            _iso(r.expires_at) or "never",
            _iso(r.last_used_at) or "never",
            (_iso(r.revoked_at) or "yes") if r.revoked else "no",
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


@_handles_errors
def keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _Keys(settings) as k:
        record = k.store.get(args.key_id)
        if record is None:
            _err(f"no API key with id {args.key_id!r}")
            return 1
        if not k.store.revoke(args.key_id):
            print(f"{args.key_id} was already revoked")
            return 0
        k.audit.record("key_revoked", _actor(), key_id=record.key_id, name=record.name)
    print(f"revoked {record.key_id} ({record.name})")
    return 0


@_handles_errors
def keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    with _Keys(settings) as k:
        try:
            key, record = k.store.rotate(args.key_id)
        except UnknownKeyError as exc:
            _err(str(exc))
            return 1
        except ValueError as exc:  # revoked: rotating would undo the revocation
            _err(str(exc))
            return 1
        k.audit.record(
            "key_rotated",
            _actor(),
            old_key_id=args.key_id,
            key_id=record.key_id,
            name=record.name,
            role=record.role.label,
        )
    _print_new_key(key, record, args.json, replaces=args.key_id)
    return 0
