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
"""

from __future__ import annotations

import re

import orjson

CAMERAS_CLAIM = "cameras"
SCOPE_CLAIM = "scope"
MEDIA_SCOPE = "media"
MAX_CAMERAS = 100  # entries in one scope; a real one names a handful
CAMERA_PATTERN = re.compile(r"[A-Za-z0-9_*?-]{1,64}")


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
