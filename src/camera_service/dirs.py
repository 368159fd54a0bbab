"""Where the service keeps its state and media when the config does not say."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from camera_service.config import SYSTEM_DATA_DIR, Settings


@dataclass(frozen=True, slots=True)
class DataDirs:
    data_dir: Path
    recordings: Path
    snapshots: Path
    fell_back: bool  # data_dir is the per-user fallback, not the configured/system one

    @property
    def database(self) -> Path:
        return self.data_dir / "camera-service.db"

    @property
    def jwt_secret(self) -> Path:
        return self.data_dir / "jwt_secret"

    def create(self) -> None:
        for d in (self.data_dir, self.recordings, self.snapshots):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)


def user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "camera-service"


def _installed(path: Path) -> bool:
    """The system data dir exists (the installer made it) and this user may write it.

    It is never created on demand: a run from a checkout, even as root, must not
    start sharing one directory with every other instance on the host."""
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def resolve_dirs(settings: Settings, create: bool = True) -> DataDirs:
    """Resolve data and media dirs: the configured one, else the installed system dir,
    else the per-user XDG data dir."""
    storage = settings.storage
    fell_back = False
    if storage.data_dir is not None:
        data_dir = storage.data_dir
    elif _installed(SYSTEM_DATA_DIR):
        data_dir = SYSTEM_DATA_DIR
    else:
        data_dir, fell_back = user_data_dir(), True
    paths = DataDirs(
        data_dir=data_dir,
        recordings=storage.recordings_path or data_dir / "recordings",
        snapshots=storage.snapshots_path or data_dir / "snapshots",
        fell_back=fell_back,
    )
    if create:
        paths.create()
    return paths
