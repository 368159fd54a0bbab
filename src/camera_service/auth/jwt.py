"""HS256 JSON Web Tokens: the shared secret, verification and minting.

Wire contract (api.md §2): claims ``user_id`` (string), ``role`` (viewer|operator|admin)
and ``exp`` are required, ``iat`` is optional, numeric times may be floats. The
algorithm is pinned to HS256, so ``alg: none``, RS256 (key confusion) and other HMAC
sizes are refused before any claim is looked at.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
import warnings
from typing import Any

import jwt as pyjwt
import orjson
from jwt.warnings import InsecureKeyLengthWarning

from camera_service.auth.identity import AuthError, Identity, Role
from camera_service.config import Settings
from camera_service.paths import Paths

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32
MAX_TOKEN_CHARS = 8192  # real tokens are a few hundred bytes; refuse before decoding

INVALID = "Authentication failed: invalid token"
EXPIRED = "Authentication failed: token expired"


def load_or_create_secret(settings: Settings, paths: Paths) -> tuple[str, str]:
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
        # PyJWS with only HS256 registered: any other alg fails the allow-list check.
        # Claims are checked here rather than by PyJWT so `now` can be injected and
        # float times work regardless of PyJWT's integer-time checks.
        self._jws = pyjwt.PyJWS(algorithms=[ALGORITHM])
        self._algorithms = [ALGORITHM]
        if len(self._key) < MIN_SECRET_CHARS:
            # load_or_create_secret already warned once; PyJWT would warn per call.
            warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

    def verify(self, token: str, now: float | None = None) -> Identity:
        """Raise AuthError("expired"|"invalid"); messages never echo the token."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthError("invalid", INVALID)
        try:
            decoded = self._jws.decode_complete(token, key=self._key, algorithms=self._algorithms)
            claims = orjson.loads(decoded["payload"])
        except (pyjwt.PyJWTError, orjson.JSONDecodeError, ValueError, TypeError):
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
        if now >= exp:
            raise AuthError("expired", EXPIRED)
        return Identity(user_id=user_id, role=role, auth_type="jwt", expires_at=exp)

    def mint(
        self, user_id: str, role: Role | str, ttl_seconds: float, now: float | None = None
    ) -> str:
        """Integer iat/exp: some older clients decode times as integers."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValueError("user_id must be a non-empty string")
        role = role if isinstance(role, Role) else Role.parse(role)
        ttl = _number(ttl_seconds)
        if ttl is None or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds (got {ttl_seconds!r})")
        if now is None:
            now = time.time()
        iat = int(now)
        claims = {"user_id": user_id, "role": role.label, "iat": iat, "exp": math.ceil(now + ttl)}
        return pyjwt.encode(claims, self._key, algorithm=ALGORITHM)
