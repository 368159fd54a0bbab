"""What a credential may reach: its camera scope and whether it is a media token.

A camera scope is a list of camera ids or patterns (the JWT claim ``cameras``, the
``cameras`` field of an API key); no list means every camera. A pattern is a camera
id that may contain ``*`` (any run of characters) and ``?`` (one character). Brackets
and escapes are not part of the grammar, so the same pattern means the same thing to
``fnmatch.fnmatchcase`` (``Identity.sees``) and to SQLite's ``GLOB`` (the media index
filters listings with it).

A media token carries the claim ``scope: "media"`` (or ``"media"`` among the words of
a space-separated OAuth scope, or in a list): it is good for MediaMTX's read and
playback authorization only, never for the control API.

A download link token carries the claim ``file: "<kind>/<name>"`` (e.g.
``"recordings/lab_2026-12-07_07-00-00.mp4"``): it is good for ``GET``/``HEAD`` of that
one file only. The grammar here is loose on purpose (the file routes compare the claim
with the request target they have already checked, so a claim naming no real file
opens nothing); it only keeps out what could never be a target.
"""

from __future__ import annotations

import re

import orjson

CAMERAS_CLAIM = "cameras"
SCOPE_CLAIM = "scope"
MEDIA_SCOPE = "media"
MAX_CAMERAS = 100  # entries in one scope; a real one names a handful
CAMERA_PATTERN = re.compile(r"[A-Za-z0-9_*?-]{1,64}")
FILE_CLAIM = "file"
MAX_NAME_BYTES = 255
_FILE_KIND = re.compile(r"[a-z]{1,32}")
_FILE_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]+")


def parse_cameras(value: object) -> tuple[str, ...]:
    """A camera scope from a claim or a stored field: a list of ids or patterns.

    Duplicates are dropped, order kept. An empty list is a scope that sees nothing.
    Raises ValueError for anything else (not a list, an entry that is not a string, a
    bad character, more than MAX_CAMERAS entries).
    """
    if not isinstance(value, list):
        raise ValueError("cameras must be a list of camera ids or patterns")
    if len(value) > MAX_CAMERAS:
        raise ValueError(f"cameras may name at most {MAX_CAMERAS} ids or patterns")
    seen: dict[str, None] = {}
    for entry in value:
        if not isinstance(entry, str) or not CAMERA_PATTERN.fullmatch(entry):
            raise ValueError(
                "each camera must be an id or pattern: 1-64 of A-Z a-z 0-9 _ - * ? "
                f"(got {entry!r:.80})"
            )
        seen[entry] = None
    return tuple(seen)


def parse_camera_list(text: str) -> tuple[str, ...]:
    """The CLI's ``--cameras lab,door-*``: comma-separated, spaces around entries ignored."""
    entries = [part.strip() for part in text.split(",")]
    if not any(entries):
        raise ValueError("--cameras needs at least one camera id or pattern")
    return parse_cameras(entries)


def encode_cameras(cameras: tuple[str, ...] | None) -> str | None:
    """For storage: a JSON array, or None for every camera."""
    return None if cameras is None else orjson.dumps(list(cameras)).decode()


def decode_cameras(stored: str | None) -> tuple[str, ...] | None:
    if stored is None:
        return None
    return parse_cameras(orjson.loads(stored))


def is_media_scope(value: object) -> bool:
    """Whether a ``scope`` claim makes a token media-only. Raises ValueError for a
    value that is neither a string nor a list of strings."""
    if isinstance(value, str):
        return MEDIA_SCOPE in value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return MEDIA_SCOPE in value
    raise ValueError("scope must be a string or a list of strings")


def parse_file_claim(value: object) -> tuple[str, str]:
    """A download link's ``file`` claim as ``(kind, name)``: ``"<kind>/<name>"`` with
    ``kind`` 1-32 of a-z and ``name`` one path segment of at most 255 UTF-8 bytes,
    without control characters. Raises ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError("file must be a string")
    kind, slash, name = value.partition("/")
    if not slash or not _FILE_KIND.fullmatch(kind) or not _FILE_NAME.fullmatch(name):
        raise ValueError("file must be <kind>/<name>")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        raise ValueError("file name is not valid UTF-8") from None
    if size > MAX_NAME_BYTES or name in (".", ".."):
        raise ValueError("file must be <kind>/<name>")
    return kind, name
