"""What MediaMTX is told about authentication (app/parts.py): the managed config's auth
URL with the run's secret, what a MediaMTX on another host is given through its API,
and when MediaMTX counts as local."""

from __future__ import annotations

from pathlib import Path

from camera_service.app.live import LiveSettings
from camera_service.app.parts import MediaAuthFields, Port, mediamtx_is_local
from camera_service.net.httpserver import HttpServer, Router
from tests.conftest import make_settings


def fields(tmp_path: Path, **mediamtx: object) -> MediaAuthFields:
    live = LiveSettings(make_settings(tmp_path, health={"host": "0.0.0.0"}, mediamtx=mediamtx))
    port = Port(HttpServer(Router()), "0.0.0.0", 0)
    port.number = 8123  # as once it listens
    return MediaAuthFields(live, port, "s3cr/t")


def test_managed_mediamtx_asks_the_health_port_on_loopback_with_the_secret(
    tmp_path: Path,
) -> None:
    conf = fields(tmp_path)()
    assert conf["authMethod"] == "http"
    assert conf["authHTTPAddress"] == "http://127.0.0.1:8123/mediamtx/auth?secret=s3cr%2Ft"
    assert [e["action"] for e in conf["authHTTPExclude"]] == ["api", "metrics", "pprof"]
    for user in conf["authInternalUsers"]:
        assert user["ips"] and {p["action"] for p in user["permissions"]} <= {
            "api", "metrics", "pprof"
        }  # fmt: skip


def test_a_mediamtx_elsewhere_is_given_the_auth_host(tmp_path: Path) -> None:
    assert fields(tmp_path).remote() is None  # nothing to give without auth_host
    conf = fields(tmp_path, auth_host="192.0.2.4").remote()
    assert conf is not None
    assert conf["authHTTPAddress"] == "http://192.0.2.4:8123/mediamtx/auth?secret=s3cr%2Ft"
    assert "authInternalUsers" not in conf  # the operator's own, left as they are
    v6 = fields(tmp_path, auth_host="2001:db8::5").remote()
    assert v6 is not None and v6["authHTTPAddress"].startswith("http://[2001:db8::5]:8123/")


def test_mediamtx_is_local_when_its_api_is_on_loopback(tmp_path: Path) -> None:
    for url, local in [
        ("http://127.0.0.1:9997", True),
        ("http://localhost:9997", True),
        ("http://[::1]:9997", True),
        ("http://127.0.0.2:9997", True),
        ("http://192.0.2.1:9997", False),
        ("http://mediamtx.lan:9997", False),
    ]:
        live = LiveSettings(make_settings(tmp_path, mediamtx={"api_url": url}))
        assert mediamtx_is_local(live.mediamtx) is local, url
