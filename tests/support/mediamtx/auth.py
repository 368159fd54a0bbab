"""MediaMTX's authentication, for the double's data plane (MediaMTX v1.20.1,
``internal/auth/manager.go`` and the authentication page of its docs).

With ``authMethod: http`` every action not matched by ``authHTTPExclude`` is POSTed to
``authHTTPAddress`` as JSON (``ip, user, password, token, action, path, protocol, id,
query``); a status in 200..299 allows, anything else (or no answer within
``readTimeout``) refuses. A refusal of a request that carried no credentials at all
asks for them (RTSP: ``401`` with ``WWW-Authenticate: Basic``; MediaMTX only offers
Basic with this method, it cannot check a Digest response); any other refusal is
answered ``401`` after MediaMTX's ``PauseAfterError`` (2 s) against brute force.
Internal users (the default method) are not emulated: the double then allows all, as
MediaMTX's default ``any`` user does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

PAUSE_AFTER_ERROR = 2.0  # auth.PauseAfterError
READ_TIMEOUT = 10.0  # readTimeout's default, the timeout of the auth request
ACTIONS = ("publish", "read", "playback", "api", "metrics", "pprof")
REALM = "mediamtx"  # gortsplib's default realm, as MediaMTX sends it


@dataclass(frozen=True)
class Credentials:
    user: str = ""
    password: str = ""
    token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.user or self.password or self.token)


def rtsp_credentials(authorization: str | None) -> Credentials:
    """What MediaMTX takes from an RTSP ``Authorization`` header: Basic user and password
    (no token: RTSP tokens travel in the query, which is passed as it is)."""
    if not authorization:
        return Credentials()
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return Credentials()
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return Credentials()
    user, sep, password = decoded.partition(":")
    return Credentials(user, password) if sep else Credentials()


def _matches(perms: Sequence[Mapping[str, Any]], action: str, path: str) -> bool:
    """``matchesPermission``: a path-less action matches by action; publish/read/playback
    also by path ("" any, "~regexp", or the exact name)."""
    for perm in perms:
        if perm.get("action") != action:
            continue
        if action not in ("publish", "read", "playback"):
            return True
        want = perm.get("path") or ""
        if want == "":
            return True
        if want.startswith("~"):
            try:
                if re.search(want[1:], path):
                    return True
            except re.error:
                continue
        elif want == path:
            return True
    return False


@dataclass(frozen=True)
class Outcome:
    ok: bool
    ask_credentials: bool = False


@dataclass
class Authenticator:
    """MediaMTX's auth manager, HTTP method only. ``requests`` keeps every body it sent
    and the status it got (None: no answer)."""

    method: str = "internal"
    address: str = ""
    exclude: list[dict[str, Any]] = field(default_factory=list)
    read_timeout: float = READ_TIMEOUT
    pause_after_error: float = PAUSE_AFTER_ERROR
    requests: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any], **kwargs: Any) -> Authenticator:
        """From MediaMTX's global settings (``authMethod``, ``authHTTPAddress``,
        ``authHTTPExclude``); other keys are ignored."""
        method = conf.get("authMethod", "internal")
        if method not in ("internal", "http", "jwt"):
            raise ValueError(f"invalid authMethod {method!r}")
        if method == "jwt":
            raise NotImplementedError("the double does not emulate JWT authentication")
        address = conf.get("authHTTPAddress") or ""
        if method == "http" and not address.startswith(("http://", "https://")):
            raise ValueError("'authHTTPAddress' must be a HTTP URL")
        exclude = [dict(p) for p in conf.get("authHTTPExclude") or []]
        for perm in exclude:
            if perm.get("action") not in ACTIONS:
                raise ValueError(f"invalid action {perm.get('action')!r}")
        return cls(method, address, exclude, **kwargs)

    async def authenticate(
        self,
        *,
        credentials: Credentials,
        ip: str,
        action: str,
        path: str,
        protocol: str,
        id: str | None,
        query: str,
    ) -> Outcome:
        if self.method != "http" or _matches(self.exclude, action, path):
            return Outcome(True)
        body = {
            "ip": ip,
            "user": credentials.user,
            "password": credentials.password,
            "token": credentials.token,
            "action": action,
            "path": path,
            "protocol": protocol,
            "id": id,
            "query": query,
        }
        status: int | None = None
        try:
            timeout = aiohttp.ClientTimeout(total=self.read_timeout)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(self.address, json=body) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        self.requests.append((body, status))
        if status is not None and 200 <= status <= 299:
            return Outcome(True)
        return Outcome(False, ask_credentials=credentials.empty)

    async def pause(self) -> None:
        await asyncio.sleep(self.pause_after_error)  # MediaMTX's brute-force delay
