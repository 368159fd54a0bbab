"""Health reasons for viewers: addresses and paths out, the words kept."""

from __future__ import annotations

import pytest

from camera_service.api.redact import redact


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (
            "cannot read paths: cannot connect to 127.0.0.1:9997: connection refused",
            "cannot read paths: cannot connect to …: connection refused",
        ),
        (
            "etcd registry unreachable: http://etcd:2379/v3 timed out",
            "etcd registry unreachable: … timed out",
        ),
        ("connect to hub.local:9997 refused", "connect to … refused"),
        ("[::1]:8080 refused", "… refused"),
        ("a-:1 refused", "… refused"),  # found by hypothesis: a host name ending in -
        ("fe80::1 is down", "… is down"),
        ("2001:db8:0:0:0:0:2:1 is down", "… is down"),
        ("no space in /var/lib/camera-service: full", "no space in …: full"),
        ("unreachable", "unreachable"),
        ("disk use above the warn threshold", "disk use above the warn threshold"),
        ("lab: nothing written for 12 s; yard: 3 s", "lab: nothing written for 12 s; yard: 3 s"),
        ("stalled since 12:30:45", "stalled since 12:30:45"),  # a time is not an address
        (
            "recovered (kept as state.db.corrupt); keys lost",
            "recovered (kept as state.db.corrupt); keys lost",
        ),
    ],
)
def test_addresses_and_paths_are_hidden(reason: str, shown: str) -> None:
    assert redact(reason) == shown
