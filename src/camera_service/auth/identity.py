"""Roles and the identity an authenticated connection carries."""

from __future__ import annotations

import enum
import fnmatch
import math
from dataclasses import dataclass
from typing import Literal

from camera_service.config import MAX_CREDENTIAL_TTL


class Role(enum.IntEnum):
    """Ordered so that a comparison answers "is this role enough"."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> Role:
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        raise ValueError(f"role must be one of viewer, operator, admin (got {value!r})")


PERMISSIONS: dict[Role, list[str]] = {
    Role.VIEWER: ["view"],
    Role.OPERATOR: ["view", "control"],
    Role.ADMIN: ["view", "control", "admin"],
}


def validate_ttl(ttl_seconds: object) -> float:
    """A credential's lifetime: a finite number of seconds in (0, MAX_CREDENTIAL_TTL]."""
    if (
        isinstance(ttl_seconds, bool)
        or not isinstance(ttl_seconds, int | float)
        or not math.isfinite(ttl_seconds)
        or ttl_seconds <= 0
    ):
        raise ValueError(f"ttl must be a positive number of seconds (got {ttl_seconds!r})")
    if ttl_seconds > MAX_CREDENTIAL_TTL:
        raise ValueError(
            f"ttl must be at most {MAX_CREDENTIAL_TTL:.0f} seconds (ten years); got {ttl_seconds!r}"
        )
    return float(ttl_seconds)


class AuthError(Exception):
    """Authentication refused. ``reason`` is a short machine word for ``data.reason``;
    the message contains the lowercase word ``invalid`` or ``expired`` as api.md asks."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    role: Role
    auth_type: Literal["jwt", "api_key"]
    expires_at: float | None  # unix seconds; None = never
    key_id: str | None = None  # set for API keys, so revocation can be re-checked per call
    # The cameras this identity may see: ids or fnmatch patterns; None = every camera.
    cameras: tuple[str, ...] | None = None
    # A media token: good for MediaMTX's read and playback authorization only, never
    # for the control API.
    media_only: bool = False
    # A download link token: (kind, name) of the one file it may read, nothing else.
    file: tuple[str, str] | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def sees(self, camera_id: str) -> bool:
        """Whether the camera is within this identity's camera scope."""
        if self.cameras is None:
            return True
        return any(fnmatch.fnmatchcase(camera_id, pattern) for pattern in self.cameras)
