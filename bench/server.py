"""Start the real service (or the echo stand-in) as a subprocess for a benchmark.

    with ServiceProcess(max_connections=2000) as srv:
        print(srv.pid, srv.port, srv.time_to_ready, srv.rss_kb())
        token = srv.mint_token()          # HS256 JWT, role admin
        ...                               # run bench/loadgen.py against srv.port

Writes a temporary YAML config (free ports on 127.0.0.1, a temp ``storage.data_dir``,
a very high per-connection rate limit, ``server.max_connections`` for the scenario,
``logging.level: WARNING``), sets ``CAMERA_SERVICE_JWT_SECRET`` to a random secret,
starts ``python -m camera_service run`` with ``CAMERA_SERVICE_CONFIG=CFG``, polls
``GET /health/ready`` until it answers 200 (timing spawn -> ready), and on exit sends
SIGTERM, waits, and kills after a timeout. Inherited ``CAMERA_SERVICE_*`` variables are
dropped so the environment cannot silently override the benchmark config.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
import yaml

REPO = Path(__file__).resolve().parent.parent
ECHO_SERVER = REPO / "bench" / "echo_ceiling.py"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def read_proc_kb(pid: int, name: str, field: str) -> int | None:
    """A KiB field (``"VmRSS:"``) of a process's ``/proc/PID/<name>`` file (None when
    the process is gone or the file unreadable)."""
    try:
        with open(f"/proc/{pid}/{name}", encoding="ascii") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def read_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            # The command name (field 2) may hold spaces: the fields after it follow ")".
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_rss_kb(pid: int) -> int | None:
    """VmRSS of a process in KiB (None when it is gone)."""
    return read_proc_kb(pid, "status", "VmRSS:")


def deep_set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    """deep_set(cfg, "server.ping_interval", 5) -> cfg["server"]["ping_interval"] = 5."""
    *parents, leaf = dotted.split(".")
    node = cfg
    for key in parents:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ValueError(f"{dotted}: {key} is not a section")
        node = child
    node[leaf] = value


class ServiceProcess:
    """A benchmark target process; use it as a context manager."""

    def __init__(
        self,
        *,
        max_connections: int = 2_000,
        requests_per_minute: int = 1_000_000_000,
        overrides: Mapping[str, Any] | None = None,
        target: str = "service",
        cpu_list: str | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 20.0,
        python: str = sys.executable,
        source: Path = REPO,
    ) -> None:
        """``target``: "service" (``python -m camera_service run``) or "echo" (the
        picows ceiling ``bench/echo_ceiling.py``). ``overrides``: dotted config keys to set,
        e.g. ``{"mediamtx.manage": "never"}``. ``cpu_list``: run under ``taskset -c``.
        ``source``: the checkout whose ``src/`` runs (another commit's worktree, for
        ``bench/compare.py``)."""
        if target not in ("service", "echo"):
            raise ValueError("target must be 'service' or 'echo'")
        self.target = target
        self.max_connections = max_connections
        self.requests_per_minute = requests_per_minute
        self.overrides = dict(overrides or {})
        self.cpu_list = cpu_list
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.python = python
        self.source = source
        self.host = "127.0.0.1"
        self.port = 0
        self.health_port = 0
        self.secret = secrets.token_urlsafe(32)
        self.time_to_ready: float | None = None
        self.shutdown_seconds: float | None = None
        self.returncode: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.config_path: Path | None = None
        self.log_path: Path | None = None

    # -- lifecycle --

    def build_config(self, data_dir: Path) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "server": {
                "host": self.host,
                "port": self.port,
                "max_connections": self.max_connections,
            },
            "health": {"host": self.host, "port": self.health_port},
            "storage": {"data_dir": str(data_dir)},
            "security": {"rate_limit": {"requests_per_minute": self.requests_per_minute}},
            "logging": {"level": "WARNING"},
        }
        for key, value in self.overrides.items():
            deep_set(cfg, key, value)
        return cfg

    def command(self) -> list[str]:
        assert self.config_path is not None
        if self.target == "echo":
            cmd = [self.python, str(ECHO_SERVER), "--config", str(self.config_path)]
        else:
            # The config file goes in CAMERA_SERVICE_CONFIG (see environment()), which
            # the CLI honours whether --config is a global or a `run` option.
            cmd = [self.python, "-m", "camera_service", "run"]
        if self.cpu_list and shutil.which("taskset"):
            cmd = ["taskset", "-c", self.cpu_list, *cmd]  # taskset execs: same PID
        return cmd

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMERA_SERVICE_")}
        env["CAMERA_SERVICE_JWT_SECRET"] = self.secret
        env["CAMERA_SERVICE_CONFIG"] = str(self.config_path)
        src = str(self.source / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        return env

    def start(self) -> ServiceProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="camera-bench-")
        tmp = Path(self._tmp.name)
        data_dir = tmp / "data"
        data_dir.mkdir()
        self.port = free_port(self.host)
        self.health_port = free_port(self.host)
        while self.health_port == self.port:
            self.health_port = free_port(self.host)
        self.config_path = tmp / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(self.build_config(data_dir), sort_keys=False))
        self.log_path = tmp / "service.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it
        t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=str(self.source),
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        try:
            self._wait_ready(t0)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, t0: float) -> None:
        assert self.proc is not None
        url = f"http://{self.host}:{self.health_port}/health/ready"
        deadline = t0 + self.ready_timeout
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"service exited with {self.proc.returncode} before ready:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1.0) as resp:
                    if resp.status == 200:
                        self.time_to_ready = time.perf_counter() - t0
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            if time.perf_counter() > deadline:
                raise TimeoutError(
                    f"{url} not 200 after {self.ready_timeout:.0f}s (last: {last}):\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.01)  # 10 ms granularity on time_to_ready

    def stop(self) -> int | None:
        """SIGTERM, wait ``stop_timeout``, then SIGKILL. Returns the exit code."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            t0 = time.perf_counter()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    print(
                        f"# service {proc.pid} ignored SIGTERM for {self.stop_timeout}s: killed",
                        file=sys.stderr,
                    )
                    proc.kill()
                    proc.wait()
            self.shutdown_seconds = time.perf_counter() - t0
            self.returncode = proc.returncode
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return self.returncode

    def reload(self, overrides: Mapping[str, Any]) -> None:
        """Rewrite the config with ``overrides`` added and SIGHUP the service, which
        applies the live keys (it answers nothing: wait for their effect)."""
        assert self.proc is not None and self._tmp is not None and self.config_path
        self.overrides.update(overrides)
        cfg = self.build_config(Path(self._tmp.name) / "data")
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.proc.send_signal(signal.SIGHUP)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers --

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def rss_kb(self) -> int | None:
        return read_rss_kb(self.pid)

    def mint_token(self, role: str = "admin", user_id: str = "bench", ttl: float = 3600.0) -> str:
        now = time.time()
        claims = {"user_id": user_id, "role": role, "iat": int(now), "exp": int(now + ttl)}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _cli(argv: Sequence[str] | None = None) -> int:
    """Manual check: start, print figures, stop. ``python bench/server.py [echo]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = args[0] if args else "service"
    with ServiceProcess(target=target) as srv:
        print(
            f"pid={srv.pid} ws={srv.ws_url} health_port={srv.health_port} "
            f"ready_in={srv.time_to_ready:.3f}s rss_kb={srv.rss_kb()}"
        )
    print(f"stopped: rc={srv.returncode} shutdown={srv.shutdown_seconds:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
