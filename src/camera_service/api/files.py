"""``GET|HEAD /files/<kind>/<name>``: media downloads on the API and health ports
(api.md §6).

Order of checks: credentials (401; a media token is refused), then the request target
(400), then, for a download link token (``create_download_url``), that it names this
very file (403), then the file (404; also for a file of a camera outside the caller's
camera scope, by the camera its name names). Only the raw target is trusted: it must be
exactly ``/files/<kind>/<name>`` with ``<kind>`` a known media dir and ``<name>`` one
segment whose percent-decoding is valid UTF-8, has no encoded separator and passes
``check_basename``. The file is opened through the media dir's descriptor with
``O_NOFOLLOW`` (``open_media``): a symlink, a directory or a device is "missing" (404).
So no byte outside the media dirs can be served, whatever the name.

Responses carry Content-Type by extension, ``Content-Disposition: attachment``
(RFC 6266, ``filename*`` for names that are not plain ASCII), ``Accept-Ranges``,
``ETag`` and ``Last-Modified``; ``If-None-Match`` gives 304, ``Range`` 206/416 (see
``api/ranges.py``), ``If-Range`` guards a range against a changed file. The body is
a :class:`FileBody` the server sends with sendfile.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote_to_bytes

from camera_service.api.session import control_identity
from camera_service.auth.identity import AuthError, Identity, Role
from camera_service.lazy import import_off_loop
from camera_service.net.httpserver import FileBody, HttpRequest, Response, Router, json_response
from camera_service.net.ranges import (
    RangeNotSatisfiable,
    etag_matches,
    if_range_allows,
    parse_range,
)
from camera_service.storage.index import name_info
from camera_service.storage.names import BadName, Kind, check_basename, open_media

log = logging.getLogger(__name__)
# Formats Last-Modified; loaded by the first download, off the loop.
HTTP_DATES = "email.utils"

PREFIX = "/files/"
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
DEFAULT_TYPE = "application/octet-stream"
# The path segment of each media dir, and the kind of media in it.
MEDIA_KINDS: dict[str, Kind] = {"recordings": "recording", "snapshots": "snapshot"}
CHALLENGE = 'Bearer realm="camera-service"'
# Characters kept as they are in the quoted ``filename`` fallback; the rest become "_".
_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$&'()*+,-.:;<=>?@[]^_`{|}~"
)


class TokenVerifier(Protocol):
    async def authenticate(self, token: str, auth_type: str = "auto") -> Identity: ...


class SecurityObserver(Protocol):
    def security_event(self, event: str, actor: str | None, **detail: Any) -> None: ...


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _missing() -> _Refused:
    return _Refused(json_response({"error": "file not found"}, 404))


def add_file_routes(
    router: Router,
    dirs: Mapping[str, Path],
    authenticator: TokenVerifier,
    require_auth: Callable[[], bool],
    observer: SecurityObserver | None = None,
) -> None:
    """Serve ``/files/<kind>/<name>`` from ``dirs[kind]`` (e.g. recordings, snapshots).

    ``require_auth`` is read per request (``security.files_require_auth`` is live)."""

    async def download(request: HttpRequest) -> Response:
        try:
            identity = None
            if require_auth():
                identity = await _authenticate(request, authenticator, observer)
            kind, directory, name = _target(request.raw_path, dirs)
            if identity is not None and identity.file is not None:
                if identity.file != (kind, name):
                    raise _Refused(_wrong_file())
            elif identity is not None and not _sees(identity, kind, name):
                raise _missing()  # a camera it may not see: as a missing file
            await import_off_loop(HTTP_DATES)  # the first download's: 6 ms of imports
            return _file_response(request, directory, name)
        except _Refused as refused:
            return refused.response

    router.add_prefix(PREFIX, download)


# --- credentials ----------------------------------------------------------------------------


def credential(request: HttpRequest) -> str | None:
    """The first credential offered: ``Authorization: Bearer``, ``X-API-Key``, ``?token=``."""
    auth = request.headers.get(b"authorization")
    if auth is not None:
        scheme, _, token = auth.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get(b"x-api-key")
    if key is not None and key.strip():
        return key.decode("latin-1").strip()
    return request.query.get("token") or None


async def _authenticate(
    request: HttpRequest, authenticator: TokenVerifier, observer: SecurityObserver | None
) -> Identity:
    token = credential(request)
    if token is None:
        raise _Refused(_unauthorized("Authentication required", "authentication_required"))
    try:
        identity = await authenticator.authenticate(token, "auto")
        if identity.file is None:  # a link token is checked against the target next
            identity = control_identity(identity)
    except AuthError as exc:
        if observer is not None:
            observer.security_event(
                "auth_failure", None, reason=exc.reason, via="http_files", ip=request.peer
            )
        raise _Refused(_unauthorized(exc.message, exc.reason)) from None
    if identity.role < Role.VIEWER:  # every role is; kept so a lower one cannot slip in
        raise _Refused(json_response({"error": "viewer role required"}, 403))
    return identity


def _unauthorized(message: str, reason: str) -> Response:
    challenge = CHALLENGE
    if reason != "authentication_required":
        challenge += ', error="invalid_token"'  # RFC 6750 §3.1
    return json_response({"error": message, "reason": reason}, 401, {"WWW-Authenticate": challenge})


def _wrong_file() -> Response:
    challenge = f'{CHALLENGE}, error="insufficient_scope"'  # RFC 6750 §3.1
    return json_response(
        {"error": "this link is for another file", "reason": "wrong_file"},
        403,
        {"WWW-Authenticate": challenge},
    )


# --- request target -------------------------------------------------------------------------


def _bad(message: str) -> _Refused:
    return _Refused(json_response({"error": message}, 400))


def _sees(identity: Identity, kind: str, name: str) -> bool:
    """Whether the file is of a camera ``identity`` may see (by the camera in its name;
    a file whose name names none only for an identity that sees every camera)."""
    if identity.cameras is None:
        return True
    media_kind = MEDIA_KINDS.get(kind)
    camera_id = None if media_kind is None else name_info(media_kind, name)[0]
    return camera_id is not None and identity.sees(camera_id)


def _target(raw_path: str, dirs: Mapping[str, Path]) -> tuple[str, Path, str]:
    """The kind, media dir and file name ``raw_path`` names; refuses anything else."""
    if not raw_path.startswith(PREFIX):
        # e.g. "/%66iles/...": decoded it matched the route, as sent it names nothing.
        raise _Refused(json_response({"error": "not found"}, 404))
    kind, _, raw_name = raw_path[len(PREFIX) :].partition("/")
    directory = dirs.get(kind)
    if directory is None:
        raise _Refused(json_response({"error": "not found"}, 404))
    if not raw_name:
        raise _bad("file name is missing")
    if "/" in raw_name or "\\" in raw_name:
        raise _bad("file name must be a single path segment")
    lowered = raw_name.lower()
    if "%2f" in lowered or "%5c" in lowered:
        raise _bad("file name must not contain encoded path separators")
    try:
        name = unquote_to_bytes(raw_name).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("file name is not valid UTF-8") from None
    try:
        check_basename(name)
    except BadName as exc:
        raise _bad(f"invalid file name: {exc}") from None
    return kind, directory, name


# --- the file ---------------------------------------------------------------------------------


def _file_response(request: HttpRequest, directory: Path, name: str) -> Response:
    from email.utils import formatdate  # imported by download()

    try:
        fd = open_media(directory, name)
    except FileNotFoundError:
        raise _missing() from None
    try:
        st = os.fstat(fd)
        size = st.st_size
        etag = f'"{st.st_ino:x}-{size:x}-{st.st_mtime_ns:x}"'
        last_modified = formatdate(st.st_mtime, usegmt=True)
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": last_modified,
            "Content-Disposition": content_disposition(name),
            "Cache-Control": "private",  # behind credentials: never in a shared cache
            "X-Content-Type-Options": "nosniff",
        }
        content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), DEFAULT_TYPE)
        if etag_matches(_header(request, b"if-none-match"), etag):
            os.close(fd)
            return Response(304, b"", content_type, headers)
        wanted = _header(request, b"range")
        if not if_range_allows(_header(request, b"if-range"), etag, last_modified):
            wanted = None
        try:
            part = parse_range(wanted, size)
        except RangeNotSatisfiable as exc:
            os.close(fd)
            refusal = {"Accept-Ranges": "bytes", "Content-Range": exc.content_range}
            return json_response({"error": "range not satisfiable"}, 416, refusal)
        if part is None:
            return Response(200, b"", content_type, headers, FileBody(fd, 0, size))
        headers["Content-Range"] = part.content_range
        return Response(206, b"", content_type, headers, FileBody(fd, part.start, part.length))
    except BaseException:
        os.close(fd)
        raise


def _header(request: HttpRequest, name: bytes) -> str | None:
    value = request.headers.get(name)
    return None if value is None else value.decode("latin-1")


def content_disposition(name: str) -> str:
    """``attachment`` with a quoted ASCII ``filename`` and, when that had to change
    the name, the exact name as ``filename*`` (RFC 6266 §4.3, RFC 8187)."""
    fallback = "".join(c if c in _PLAIN else "_" for c in name)
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
