"""Whether a session that is on writes media: the size of its newest segment, looked
at every :data:`LOOK_INTERVAL`.

MediaMTX says when it opens and closes a segment, not when it writes to one, so the
file is the only witness: the recorder appends a part every half second, and when no
segment has grown between two looks for :data:`STALL_SECONDS`, nothing is being
recorded. A full disk is the common cause: the recorder's writes fail and it retries
with new segments that stay empty (or hold a header): a new segment is a baseline,
only its growth is progress. Pure: the record manager does the looking and the
telling.
"""

from __future__ import annotations

import enum

from camera_service.record.recording import Interruption, Recording

LOOK_INTERVAL = 1.0
STALL_SECONDS = 6.0  # a dozen parts; a stream's GOP is a second or two
FULL_BYTES = 1 << 20  # less room than this on the recordings disk: it is full


class Turn(enum.Enum):
    DEGRADED = "degraded"  # it stopped writing
    RESUMED = "resumed"  # it writes again


def observe(
    session: Recording, name: str, size: int, now: float, available: int | None
) -> tuple[Turn, Interruption] | None:
    """Take one look (``name`` is the newest segment, ``size`` its bytes now,
    ``available`` the bytes free on the recordings disk if known) and update the
    session: the turn it took, if any, with the interruption begun or over."""
    before, session.looked = session.looked, (name, size)
    if name == before[0] and size > before[1]:
        stalled_since, session.progress_at = session.progress_at, now
        over, session.degraded = session.degraded, None
        if over is None:
            return None
        session.stalled_seconds += max(0.0, now - stalled_since)
        return Turn.RESUMED, over
    if session.degraded is None and now - session.progress_at >= STALL_SECONDS:
        full = available is not None and available < FULL_BYTES
        session.degraded = Interruption.STORAGE_FULL if full else Interruption.STALLED
        session.doubtful = True
        return Turn.DEGRADED, session.degraded
    return None


def explain(reason: Interruption) -> str:
    """What a degraded session's reason means, fit for a client and the health report."""
    if reason is Interruption.STORAGE_FULL:
        return "the recordings disk is full: nothing can be written"
    return f"MediaMTX has written nothing for {STALL_SECONDS:g} s"
