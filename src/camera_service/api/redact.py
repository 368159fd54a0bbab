"""Health reasons as a viewer may read them: addresses and file-system paths taken out.

A component's reason is written for the person running the hub and may quote a raw
error ("cannot read paths: cannot connect to 10.0.0.5:9997: connection refused"). A
viewer learns what is wrong without learning where the hub's parts live: each URL,
address with or without a port, host:port and absolute path becomes ``…``.
"""

from __future__ import annotations

import re

HIDDEN = "…"

_PATTERNS = (
    r"[A-Za-z][A-Za-z0-9+.-]*://\S*",  # a URL
    r"\[[0-9A-Fa-f:.%\w]*\](?::\d+)?",  # [IPv6] and [IPv6]:port
    r"\b(?:[0-9A-Fa-f]{1,4}:){3,7}[0-9A-Fa-f]{1,4}\b",  # bare IPv6, full form
    r"(?:\b[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{1,4})*::(?:[0-9A-Fa-f]{1,4}\b(?::[0-9A-Fa-f]{1,4}\b)*)?",
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?",  # IPv4 and IPv4:port
    r"\b[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*:\d+\b",  # host:port (even a malformed host)
    r"(?<![\w.])~?/(?:[^\s:;,'\"()]+)",  # an absolute (or ~) path
)
_ADDRESS = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))


def redact(reason: str) -> str:
    """``reason`` with every address and path replaced by ``…``."""
    return _ADDRESS.sub(HIDDEN, reason)
