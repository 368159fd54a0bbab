"""Where the service keeps its state when the config does not say (configuration.md,
"Data directory")."""

from __future__ import annotations

from pathlib import Path

import pytest

from camera_service import dirs
from camera_service.config import Settings


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var-lib" / "camera-service"
    monkeypatch.setattr(dirs, "SYSTEM_DATA_DIR", path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return path


def test_a_checkout_never_creates_the_system_dir(system: Path, tmp_path: Path) -> None:
    system.parent.mkdir(parents=True)  # /var/lib is writable (root), the dir is absent
    paths = dirs.resolve_dirs(Settings())
    assert paths.data_dir == tmp_path / "xdg" / "camera-service" and paths.fell_back
    assert not system.exists()
    assert paths.recordings == paths.data_dir / "recordings"


def test_an_installed_system_dir_is_used(system: Path) -> None:
    system.mkdir(parents=True)
    paths = dirs.resolve_dirs(Settings())
    assert paths.data_dir == system and not paths.fell_back


def test_the_configured_dir_wins(system: Path, tmp_path: Path) -> None:
    system.mkdir(parents=True)
    settings = Settings.model_validate({"storage": {"data_dir": str(tmp_path / "mine")}})
    assert dirs.resolve_dirs(settings).data_dir == tmp_path / "mine"
