"""HS256 JSON Web Tokens: the shared secret, verification and minting.

Wire contract (api.md §2): claims ``user_id`` (string), ``role`` (viewer|operator|admin)
and ``exp`` are required, ``iat`` is optional, numeric times may be floats. Optional
``cameras`` (a list of camera ids or patterns; absent: every camera) limits the token to
those cameras, and ``scope: "media"`` makes it a media token (``auth/scope.py``); a
malformed one makes the token invalid. The
algorithm is pinned to HS256, so ``alg: none``, RS256 (key confusion) and other HMAC
sizes are refused before any claim is looked at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

import orjson

from camera_service.auth.identity import AuthError, Identity, Role, validate_ttl
from camera_service.auth.scope import (
    CAMERAS_CLAIM,
    FILE_CLAIM,
    MEDIA_SCOPE,
    SCOPE_CLAIM,
    is_media_scope,
    parse_cameras,
    parse_file_claim,
)
from camera_service.config import Settings
from camera_service.dirs import DataDirs

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32
MAX_TOKEN_CHARS = 8192  # real tokens are a few hundred bytes; refuse before decoding

INVALID = "Authentication failed: invalid token"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Header of every token we mint; verification accepts any header that pins HS256.
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
EXPIRED = "Authentication failed: token expired"


def load_or_create_secret(settings: Settings, paths: DataDirs) -> tuple[str, str]:
    """The secret the service and ``token create`` share, with where it came from.

    Returns ``(secret, "config")`` when ``security.jwt.secret_key`` is set (YAML or
    ``CAMERA_SERVICE_JWT_SECRET``, which are indistinguishable here), else
    ``(secret, "file")`` from ``paths.jwt_secret``, generated on first use.
    """
    configured = settings.security.jwt.secret_key
    if configured is not None:
        secret = configured.get_secret_value()
        if not secret:
            raise ValueError("security.jwt.secret_key is set but empty")
        if len(secret) < MIN_SECRET_CHARS:
            log.warning(
                "security.jwt.secret_key is only %d characters; use at least %d "
                "(e.g. `openssl rand -hex 32`)",
                len(secret),
                MIN_SECRET_CHARS,
            )
        return secret, "config"
    return _read_or_generate(paths.jwt_secret), "file"


def _read_or_generate(path: os.PathLike[str]) -> str:
    """Never a hard-coded default: the first caller generates 256 random bits.

    The secret is written to a private temp file and hard-linked into place, so a
    reader never sees a half-written file and two processes starting together
    (service and CLI) agree on one secret: the loser of the link reads the winner's.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    secret = secrets.token_hex(32)
    tmp = f"{os.fspath(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secret + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_secret(path)
        except OSError:  # file system without hard links: exclusive create instead
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return _read_secret(path)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secret + "\n")
                f.flush()
                os.fsync(f.fileno())
    finally:
        os.unlink(tmp)
    log.info("generated a new JWT secret in %s (mode 0600)", os.fspath(path))
    return secret


def _read_secret(path: os.PathLike[str]) -> str:
    with open(path, encoding="utf-8") as f:
        mode = os.fstat(f.fileno()).st_mode
        secret = f.read().strip()
    if not secret:
        raise ValueError(f"JWT secret file {os.fspath(path)} is empty; delete it to regenerate")
    if mode & 0o077:
        log.warning("JWT secret file %s is readable by others; chmod 600 it", os.fspath(path))
    return secret


def _number(value: Any) -> float | None:
    """A JSON number that is a usable time; bool is an int subclass but not a time."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        f = float(value)
        if math.isfinite(f):
            return f
    return None


class JwtAuthenticator:
    """Verifies and mints tokens with one secret; built once, used per call."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("JWT secret must not be empty")
        self._key = secret.encode("utf-8")

    def _sign(self, signing_input: bytes) -> bytes:
        return hmac.new(self._key, signing_input, hashlib.sha256).digest()

    def verify(self, token: str, now: float | None = None) -> Identity:
        """Raise AuthError("expired"|"invalid"); messages never echo the token."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthError("invalid", INVALID)
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = orjson.loads(_b64decode(header_b64))
            # The algorithm is pinned: "none", RS256 (key confusion), HS384/512 are
            # refused, and so is any "crit" extension we would not understand (RFC 7515).
            if not isinstance(header, dict) or header.get("alg") != ALGORITHM or "crit" in header:
                raise ValueError("header")
            signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
            if not hmac.compare_digest(self._sign(signing_input), _b64decode(signature_b64)):
                raise ValueError("signature")
            claims = orjson.loads(_b64decode(payload_b64))
        except (ValueError, TypeError, UnicodeEncodeError, orjson.JSONDecodeError):
            raise AuthError("invalid", INVALID) from None
        if not isinstance(claims, dict):
            raise AuthError("invalid", INVALID)
        user_id = claims.get("user_id")
        exp = _number(claims.get("exp"))
        if not isinstance(user_id, str) or not user_id or exp is None:
            raise AuthError("invalid", INVALID)
        try:
            role = Role.parse(claims.get("role"))
        except ValueError:
            raise AuthError("invalid", INVALID) from None
        # iat: type-checked only. A future iat is not refused: hubs without an RTC
        # (Raspberry Pi) run with a wrong clock until NTP syncs.
        if "iat" in claims and _number(claims["iat"]) is None:
            raise AuthError("invalid", INVALID)
        if now is None:
            now = time.time()
        if "nbf" in claims:
            nbf = _number(claims["nbf"])
            if nbf is None or now < nbf:
                raise AuthError("invalid", INVALID)
        try:
            cameras = parse_cameras(claims[CAMERAS_CLAIM]) if CAMERAS_CLAIM in claims else None
            media_only = SCOPE_CLAIM in claims and is_media_scope(claims[SCOPE_CLAIM])
            file = parse_file_claim(claims[FILE_CLAIM]) if FILE_CLAIM in claims else None
        except ValueError:
            raise AuthError("invalid", INVALID) from None
        if now >= exp:
            raise AuthError("expired", EXPIRED)
        return Identity(
            user_id=user_id,
            role=role,
            auth_type="jwt",
            expires_at=exp,
            cameras=cameras,
            media_only=media_only,
            file=file,
        )

    def mint(
        self,
        user_id: str,
        role: Role | str,
        ttl_seconds: float,
        now: float | None = None,
        *,
        cameras: Sequence[str] | None = None,
        media: bool = False,
        expires_at: float | None = None,
        file: tuple[str, str] | None = None,
    ) -> str:
        """Integer iat/exp: some older clients decode times as integers.

        ``cameras`` limits the token (None: every camera); ``media`` marks a media
        token; ``expires_at`` caps ``exp`` (a media token never outlives the
        credential it was made from); ``file`` (kind, name) makes a download link
        token for that one file."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValueError("user_id must be a non-empty string")
        role = role if isinstance(role, Role) else Role.parse(role)
        ttl = validate_ttl(ttl_seconds)
        if now is None:
            now = time.time()
        iat = int(now)
        exp = math.ceil(now + ttl)
        if expires_at is not None:
            exp = min(exp, math.floor(expires_at))
        claims: dict[str, Any] = {"user_id": user_id, "role": role.label, "iat": iat, "exp": exp}
        if cameras is not None:
            claims[CAMERAS_CLAIM] = list(parse_cameras(list(cameras)))
        if media:
            claims[SCOPE_CLAIM] = MEDIA_SCOPE
        if file is not None:
            claims[FILE_CLAIM] = "/".join(parse_file_claim("/".join(file)))
        payload = _b64encode(orjson.dumps(claims))
        signing_input = f"{_HEADER}.{payload}"
        return f"{signing_input}.{_b64encode(self._sign(signing_input.encode('ascii')))}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str) -> bytes:
    """Strict base64url without padding, as JWS uses it (RFC 7515 §2), and canonical:
    the unused low bits of the last character must be zero (RFC 4648 §3.5), so each
    token has exactly one encoding and a signature cannot be altered and still verify."""
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if _b64encode(data) != part:
        raise ValueError("not canonical base64url")
    return data
