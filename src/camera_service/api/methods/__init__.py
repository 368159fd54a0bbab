"""Every JSON-RPC method, grouped by what it is about: each module's ``METHODS`` is
data (name, handler, role, params, result), and :func:`all_methods` is the API surface.
"""

from __future__ import annotations

from typing import Any

from camera_service.api.methods import (
    cameras,
    files,
    onvif,
    preview,
    recordings,
    session,
    snapshots,
    sources,
    storage,
    streaming,
    streams,
    system,
    tokens,
)
from camera_service.api.methodtable import MethodSpec
from camera_service.api.openrpc import Discovery


def all_methods() -> list[MethodSpec[Any]]:
    """Every method, ``rpc.discover`` (which describes them all) included."""
    return Discovery(
        [
            *session.METHODS,
            *cameras.METHODS,
            *streams.METHODS,
            *streaming.METHODS,
            *tokens.METHODS,
            *system.METHODS,
            *storage.METHODS,
            *files.METHODS,
            *recordings.METHODS,
            *snapshots.METHODS,
            *preview.METHODS,
            *sources.METHODS,
            *onvif.METHODS,
        ]
    ).methods
