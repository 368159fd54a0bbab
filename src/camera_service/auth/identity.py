"""Roles and the identity an authenticated connection carries."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal


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

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at
