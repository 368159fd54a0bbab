"""create_media_token (viewer): a short-lived token for one camera's streams.

A browser opening an HLS or WebRTC URL cannot send the caller's long-lived credential
in a header, and should not hold it: it gets a JWT limited to that one camera and
marked media-only (``scope: "media"``), good for MediaMTX's read and playback
authorization and refused by the control API and the downloads. It never outlives the
credential it was made from.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from camera_service.api.contract import MediaTokenResult
from camera_service.api.jsonrpc import (
    AUTH_REQUIRED,
    CAMERA_NOT_FOUND,
    INVALID_PARAMS,
    RpcError,
    bad_param,
)
from camera_service.api.methods.cameras import DeviceParams
from camera_service.api.methodtable import Call, CameraParam, MethodSpec
from camera_service.api.wire import media_urls
from camera_service.auth.identity import AuthError, Role
from camera_service.config import FileLinkConfig, MediaTokenConfig
from camera_service.observability.health import iso


class MediaTokenParams(DeviceParams):
    device: str = Field(
        alias="camera_id",
        description="the camera: a camera_id (or /dev/videoN)",
        json_schema_extra={"pattern": r"^(/dev/video[0-9]{1,4}|[A-Za-z0-9_-]{1,64})$"},
    )
    ttl_seconds: float | None = Field(
        None,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="lifetime in seconds; default security.media_tokens.default_ttl, "
        "at most security.media_tokens.max_ttl",
    )


def lifetime(ttl: float | None, limits: MediaTokenConfig | FileLinkConfig) -> float:
    """``ttl_seconds`` as asked, or the default; -32602 past the maximum."""
    if ttl is None:
        return limits.default_ttl
    if ttl > limits.max_ttl:
        raise bad_param("ttl_seconds", f"must be at most {limits.max_ttl:g}")
    return float(ttl)


def _ttl(call: Call[MediaTokenParams]) -> float:
    return lifetime(call.params.ttl_seconds, call.ctx.components.settings.security.media_tokens)


def mint_scoped(
    call: Call[Any],
    ttl: float,
    *,
    cameras: list[str],
    media: bool = False,
    file: tuple[str, str] | None = None,
) -> tuple[str, float]:
    """A viewer token of the caller's, scoped, that never outlives the caller's own
    credential; with its ``exp`` as minted (whole seconds)."""
    identity = call.session.identity
    assert identity is not None  # a viewer method: the dispatcher authenticated the call
    tokens = call.ctx.components.tokens
    now = time.time()
    token = tokens.mint(
        identity.user_id,
        Role.VIEWER,
        ttl,
        now,
        cameras=cameras,
        media=media,
        expires_at=identity.expires_at,
        file=file,
    )
    try:
        minted = tokens.verify(token, now)
    except AuthError as exc:  # the caller's credential expires within the second
        raise RpcError(AUTH_REQUIRED, exc.message, {"reason": exc.reason}) from None
    assert minted.expires_at is not None
    return token, minted.expires_at


def _not_found(camera_id: str) -> RpcError:
    return RpcError(
        CAMERA_NOT_FOUND, f"Camera not found: {camera_id}", {"reason": "camera_not_found"}
    )


def create_media_token(call: Call[MediaTokenParams]) -> MediaTokenResult:
    ttl = _ttl(call)
    c = call.ctx.components
    camera_id = call.params.camera_id
    if c.cameras.get(camera_id) is None:
        raise _not_found(camera_id)
    token, expires_at = mint_scoped(call, ttl, cameras=[camera_id], media=True)
    return {
        "token": token,
        "camera_id": camera_id,
        "expires_at": iso(expires_at),
        "streams": media_urls(camera_id, call.session.host, c.settings.mediamtx, token),
    }


def unseen(call: Call[MediaTokenParams], camera_id: str) -> MediaTokenResult:
    """A camera the caller may not see: as one that does not exist."""
    _ttl(call)
    raise _not_found(camera_id)


METHODS = (
    MethodSpec(
        "create_media_token",
        create_media_token,
        "A short-lived token for one camera's streams (HLS, WebRTC, RTSP), with its URLs.",
        Role.VIEWER,
        MediaTokenParams,
        MediaTokenResult,
        errors=(INVALID_PARAMS, CAMERA_NOT_FOUND),
        camera=CameraParam(MediaTokenParams.scoped, unseen),
    ),
)
