"""``camera-service doctor``: a preflight of what the service needs on this machine.

Each check says what it found and, when something is missing or wrong, the one thing
to do about it. The checks are data (:data:`CHECKS`), run in order, each bounded in
time; none changes anything (directories are probed, not created).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from camera_service.config import Settings
from camera_service.dirs import resolve_dirs
from camera_service.media.mediamtx.client import MediaMtxClient, MediaMtxError
from camera_service.media.mediamtx.managed import find_binary

PROBE_TIMEOUT = 5.0  # seconds for one executable's --version or one API call
MEDIAMTX_RELEASES = "https://github.com/bluenviron/mediamtx/releases"


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, with less (e.g. no USB probing)
    FAIL = "fail"  # the service cannot do its job until fixed


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    level: Level
    detail: str
    fix: str = ""


Check = Callable[[Settings], Awaitable[list[Finding]]]


async def _version(argv: list[str]) -> str | None:
    """The first output line of ``argv`` (a ``--version``), None if it cannot run."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):  # not wait_for: it can lose a cancel
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    lines = out.decode(errors="replace").strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


async def check_mediamtx(settings: Settings) -> list[Finding]:
    cfg = settings.mediamtx
    name = "MediaMTX"
    try:
        binary = find_binary(cfg)
    except FileNotFoundError:
        return [
            Finding(
                name,
                Level.FAIL,
                "mediamtx.manage is 'always' but no mediamtx executable is on PATH",
                f"install MediaMTX ({MEDIAMTX_RELEASES}) or set mediamtx.binary",
            )
        ]
    if binary is not None:
        version = await _version([binary, "--version"])
        if version is None:
            return [
                Finding(
                    name,
                    Level.FAIL,
                    f"{binary} does not run",
                    f"install MediaMTX ({MEDIAMTX_RELEASES}), or set mediamtx.binary to it",
                )
            ]
        return [Finding(name, Level.OK, f"managed by the service: {binary} {version}")]
    client = MediaMtxClient(cfg.api_url, timeout=PROBE_TIMEOUT, retries=0)
    try:
        info = await client.info()
    except MediaMtxError as exc:
        if exc.status is not None:  # something answers, but not MediaMTX's API v3
            return [
                Finding(
                    name,
                    Level.FAIL,
                    f"{cfg.api_url} answers HTTP {exc.status}, not MediaMTX's Control API",
                    "enable MediaMTX's API (api: yes in mediamtx.yml, apiAddress :9997), "
                    "or point mediamtx.api_url at it",
                )
            ]
        return [
            Finding(
                name,
                Level.FAIL,
                f"no MediaMTX answers at {cfg.api_url} ({exc})",
                f"install MediaMTX ({MEDIAMTX_RELEASES}) on PATH and the service runs it "
                "(mediamtx.manage: auto), or start it with api: yes, or point "
                "mediamtx.api_url at a running one",
            )
        ]
    finally:
        await client.close()
    return [Finding(name, Level.OK, f"MediaMTX {info.version or '?'} at {cfg.api_url}")]


async def check_ffmpeg(settings: Settings) -> list[Finding]:
    exe = settings.mediamtx.ffmpeg
    version = await _version([exe, "-hide_banner", "-version"]) if shutil.which(exe) else None
    if version is None:
        return [
            Finding(
                "FFmpeg",
                Level.FAIL,
                f"{exe!r} not found or does not run (USB and test cameras, snapshots need it)",
                "apt-get install ffmpeg, or set mediamtx.ffmpeg to its path",
            )
        ]
    return [Finding("FFmpeg", Level.OK, version.split(" Copyright", 1)[0])]


async def check_v4l2_ctl(settings: Settings) -> list[Finding]:
    exe = settings.cameras.v4l2_ctl
    if shutil.which(exe) is None:
        return [
            Finding(
                "v4l2-ctl",
                Level.WARN,
                f"{exe!r} not found: USB cameras are listed without probed formats",
                "apt-get install v4l-utils, or set cameras.v4l2_ctl to its path",
            )
        ]
    return [Finding("v4l2-ctl", Level.OK, shutil.which(exe) or exe)]


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


async def check_directories(settings: Settings) -> list[Finding]:
    paths = resolve_dirs(settings, create=False)
    storage = settings.storage
    findings = []
    for label, path in (
        ("data dir", paths.data_dir),
        ("recordings", paths.recordings),
        ("snapshots", paths.snapshots),
    ):
        check = f"storage: {label}"
        base = _nearest_existing(path)
        if not base.is_dir():
            findings.append(
                Finding(check, Level.FAIL, f"{path}: {base} is not a directory", "fix the path")
            )
            continue
        if not os.access(base, os.W_OK | os.X_OK):
            findings.append(
                Finding(
                    check,
                    Level.FAIL,
                    f"{path} is not writable ({base})",
                    "make it writable by the service user, or set storage.* to a writable path",
                )
            )
            continue
        usage = shutil.disk_usage(base)
        used = 100.0 * (usage.total - usage.free) / usage.total if usage.total else 100.0
        state = "" if path.exists() else ", created at start"
        detail = f"{path}{state}: {usage.free / 2**30:.1f} GiB free ({used:.0f} % used)"
        if used >= storage.block_percent:
            findings.append(
                Finding(
                    check,
                    Level.FAIL,
                    detail,
                    f"free space: new media are refused at {storage.block_percent:g} % used",
                )
            )
        elif used >= storage.warn_percent:
            findings.append(
                Finding(
                    check,
                    Level.WARN,
                    detail,
                    f"over storage.warn_percent ({storage.warn_percent:g} %)",
                )
            )
        else:
            findings.append(Finding(check, Level.OK, detail))
    return findings


CHECKS: tuple[Check, ...] = (check_mediamtx, check_ffmpeg, check_v4l2_ctl, check_directories)


async def diagnose(settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        findings += await check(settings)
    return findings


def as_text(findings: list[Finding]) -> str:
    width = max(len(f.check) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"{f.level.value.upper():<5} {f.check:<{width}}  {f.detail}")
        if f.fix:
            lines.append(f"{'':<5} {'':<{width}}  fix: {f.fix}")
    failed = sum(f.level is Level.FAIL for f in findings)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)


def as_dicts(findings: list[Finding]) -> list[dict[str, str]]:
    return [{**asdict(f), "level": f.level.value} for f in findings]
