"""RTSP URLs as an API client gives them: the credentials split out, so the URL kept,
shown and logged never holds them (the password is shown as :data:`MASK`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MASK = "********"
_HOST = re.compile(r"[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\]")
# What the config model accepts (config.RtspSource): no spaces, no "@" in the netloc.
_BARE = re.compile(r"rtsps?://[^\s@/]+(/[^\s]*)?")


@dataclass(frozen=True, slots=True)
class SplitUrl:
    url: str  # without credentials
    username: str | None
    password: str | None


def split_credentials(url: str) -> SplitUrl:
    """``rtsp://user:pass@host:port/path`` as the URL without its credentials and the
    (percent-decoded) user and password; ValueError, in words fit for a client, when it
    is not an rtsp:// or rtsps:// URL with a host."""
    if any(ch.isspace() for ch in url) or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number in range
    except ValueError:
        raise ValueError("must be rtsp://host[:port]/path with a valid port") from None
    if parts.scheme.lower() not in ("rtsp", "rtsps") or not url.lower().startswith(
        parts.scheme.lower() + "://"
    ):
        raise ValueError("must start with rtsp:// or rtsps://")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0] if not hostport.endswith("]") else hostport
    if not host or not _HOST.fullmatch(host):
        raise ValueError("must name a host: rtsp://host[:port]/path")
    if port == 0:
        raise ValueError("must be rtsp://host[:port]/path with a valid port")
    username = password = None
    if at:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
        if username is None:
            raise ValueError("has credentials without a user name")
    # The rest of the URL as it was written (urlunsplit would drop an empty "?" or "#").
    rest = url[len(parts.scheme) + 3 + len(parts.netloc) :]
    bare = f"{parts.scheme.lower()}://{hostport}{rest}"
    if not _BARE.fullmatch(bare):
        raise ValueError("must be rtsp://host[:port]/path")
    return SplitUrl(bare, username, password)
