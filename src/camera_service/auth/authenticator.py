"""One front for both credentials: JWTs first, then API keys (api.md §2)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from camera_service.auth.identity import AuthError, Identity

if TYPE_CHECKING:
    from camera_service.auth.apikeys import ApiKeyStore
    from camera_service.auth.jwt import JwtAuthenticator
    from camera_service.db import AsyncDatabase

AUTH_TYPES = ("auto", "jwt", "api_key")


class Authenticator:
    def __init__(
        self,
        jwt: JwtAuthenticator,
        keys: ApiKeyStore | None = None,
        db: AsyncDatabase | None = None,
    ) -> None:
        self.jwt = jwt
        self.keys = keys
        self.db = db  # API-key lookups run on the database thread, never on the loop

    async def authenticate(self, token: str, auth_type: str = "auto") -> Identity:
        now = time.time()
        # Auto: a token shaped like a JWT (three dot-separated parts) is a JWT; our API
        # keys contain no dots, so nothing is gained by trying the other kind.
        if auth_type == "jwt" or (auth_type == "auto" and token.count(".") == 2):
            return self.jwt.verify(token, now)
        if self.keys is None:
            raise AuthError("invalid", "Authentication failed: invalid token")
        if self.db is not None:
            identity = await self.db.run(self.keys.verify, token, now)
        else:
            identity = self.keys.verify(token, now)
        if identity.key_id is not None:
            self.keys.mark_used(identity.key_id)
        return identity

    def recheck(self, identity: Identity, now: float) -> AuthError | None:
        if identity.expired(now):
            return AuthError("expired", "Authentication failed: token expired")
        if identity.key_id is not None and self.keys is not None:
            if not self.keys.still_valid(identity.key_id, now):
                return AuthError("invalid", "Authentication failed: invalid or revoked API key")
            self.keys.mark_used(identity.key_id)
        return None
