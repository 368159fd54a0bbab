"""What the MediaMTX controller publishes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MediaMtxRestarted:
    """MediaMTX was seen with a new start time: every API-made path and every recording
    it was making are gone. Published before the reconcile that re-applies the paths."""

    started: str | None  # its /v3/info ``started``


@dataclass(frozen=True, slots=True)
class MediaMtxUnreachable:
    """A check that had reached MediaMTX found it gone (refused, timed out, failing):
    from now on nothing it was doing (streams, recordings) is known to go on."""

    error: str


@dataclass(frozen=True, slots=True)
class StreamsChanged:
    """A look at MediaMTX found a different set of our streams up (available)."""

    up: frozenset[str]  # camera ids
