"""Preview frames: a recent image of a camera for anyone who may watch it, shared.

A preview is what a page shows when no live stream plays. It is taken like a snapshot
(:meth:`SnapshotService.grab`: the warm keyframe when there is one, else a one-shot
read of the stream) but kept in memory only, never written to the snapshots
directory nor listed. Each camera's latest preview is served to every caller while it
is younger than ``snapshots.preview_max_age``; callers who ask while one is being taken
wait for that one. So N viewers of a camera cost at most one capture per interval, and
a failed capture is remembered as long, so a camera that cannot be captured is not
asked again by each of them. A removed camera's preview is dropped (:meth:`forget`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from camera_service.config import SnapshotsConfig
from camera_service.media.ffmpeg import ImageFormat
from camera_service.media.snapshots import CameraUnavailable, CaptureFailed, Shot, SnapshotService

FORMAT: ImageFormat = "jpg"  # a preview is for a page: JPEG, at the snapshot quality


@dataclass(frozen=True, slots=True)
class _Entry:
    at: float  # event loop clock when the capture ended
    shot: Shot | None
    error: str  # why it failed (shot None)


class Previews:
    """The latest preview of each camera; :meth:`get` returns one at most
    ``preview_max_age`` old."""

    def __init__(self, snapshots: SnapshotService, settings: Callable[[], SnapshotsConfig]) -> None:
        self.snapshots = snapshots
        self.settings = settings
        self._latest: dict[str, _Entry] = {}
        self._taking: dict[str, asyncio.Task[_Entry]] = {}
        self.captures = 0  # captures started (tests, metrics)

    async def get(self, camera_id: str) -> Shot:
        """The camera's preview. Raises :class:`CameraUnavailable` for a camera that is
        unknown or not connected (at once, whatever is remembered), ``CapacityExceeded``
        when no capture slot is free, :class:`CaptureFailed` with the reason otherwise."""
        camera = self.snapshots.cameras.get(camera_id)
        if camera is None or not camera.connected:
            self._latest.pop(camera_id, None)
            raise CameraUnavailable(camera_id)
        loop = asyncio.get_running_loop()
        entry = self._latest.get(camera_id)
        if entry is None or loop.time() - entry.at >= self.settings().preview_max_age:
            task = self._taking.get(camera_id)
            if task is None:
                task = loop.create_task(self._take(camera_id))
                self._taking[camera_id] = task
                task.add_done_callback(lambda done: self._taken(camera_id, done))
            # One caller giving up (its connection closed) does not cancel the others'.
            entry = await asyncio.shield(task)
        if entry.shot is None:
            raise CaptureFailed(entry.error)
        return entry.shot

    def forget(self, camera_id: str) -> None:
        """Drop the camera's preview (it was removed); a capture under way for it is
        answered to its callers but not kept."""
        self._latest.pop(camera_id, None)
        self._taking.pop(camera_id, None)

    def __contains__(self, camera_id: str) -> bool:
        """Whether a preview (or a failure) of the camera is kept."""
        return camera_id in self._latest

    def _taken(self, camera_id: str, task: asyncio.Task[_Entry]) -> None:
        if self._taking.get(camera_id) is task:  # not one forgotten, then begun anew
            del self._taking[camera_id]

    async def _take(self, camera_id: str) -> _Entry:
        self.captures += 1
        quality = self.settings().quality
        try:
            shot = await self.snapshots.grab(camera_id, FORMAT, quality)
        except CameraUnavailable:
            raise  # not remembered: the next call checks the camera again
        except CaptureFailed as exc:
            entry = _Entry(asyncio.get_running_loop().time(), None, str(exc))
        else:
            entry = _Entry(asyncio.get_running_loop().time(), shot, "")
        if self._taking.get(camera_id) is asyncio.current_task():  # not forgotten meanwhile
            self._latest[camera_id] = entry
        return entry
