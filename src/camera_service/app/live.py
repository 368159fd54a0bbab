"""The settings in force, and the SIGHUP reload that replaces them.

Parts that honour live keys hold one of the getters below rather than a copy of their
section, so a reload takes effect at their next read; parts that must act on a reload
(the log level, the rate limit, the camera sources) are its listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from camera_service.config import (
    CamerasConfig,
    ConfigError,
    MediaMtxConfig,
    OnvifConfig,
    RecordingConfig,
    ResourcesConfig,
    RetentionConfig,
    Settings,
    SnapshotsConfig,
    StorageConfig,
    load_settings,
    split_reload,
)

log = logging.getLogger("camera_service")

ReloadListener = Callable[[Settings, list[str]], None]  # (new settings, live keys applied)


class LiveSettings:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.current = settings
        self.config_path = config_path
        self.environ = environ
        self.listeners: list[ReloadListener] = []

    def __call__(self) -> Settings:
        return self.current

    def cameras(self) -> CamerasConfig:
        return self.current.cameras

    def mediamtx(self) -> MediaMtxConfig:
        return self.current.mediamtx

    def onvif(self) -> OnvifConfig:
        return self.current.onvif

    def recording(self) -> RecordingConfig:
        return self.current.recording

    def resources(self) -> ResourcesConfig:
        return self.current.resources

    def retention(self) -> RetentionConfig:
        return self.current.retention

    def snapshots(self) -> SnapshotsConfig:
        return self.current.snapshots

    def storage(self) -> StorageConfig:
        return self.current.storage

    def files_require_auth(self) -> bool:
        return self.current.security.files_require_auth

    def reload(self) -> bool:
        """Apply what can change live; a bad file keeps the running config."""
        try:
            new, _ = load_settings(self.config_path, self.environ)
        except ConfigError as exc:
            log.error("reload rejected; keeping the running config", extra={"error": str(exc)})
            return False
        applied, restart = split_reload(self.current, new)
        if restart:
            log.warning("reload: these keys need a restart", extra={"keys": restart})
            new = merge_live(self.current, new, applied)
        self.current = new
        for listener in self.listeners:
            listener(new, applied)
        log.info("configuration reloaded", extra={"applied": applied})
        return True


def merge_live(old: Settings, new: Settings, applied: list[str]) -> Settings:
    """The running settings with only the live keys taken from ``new``."""
    data = old.model_dump()
    fresh = new.model_dump()
    for key in applied:
        parts = key.split(".")
        src, dst = fresh, data
        for p in parts[:-1]:
            src, dst = src[p], dst[p]
        dst[parts[-1]] = src[parts[-1]]
    return Settings.model_validate(data)
