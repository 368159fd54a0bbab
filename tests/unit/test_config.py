"""The typed config model: defaults, precedence, environment rule, strict validation,
secret masking, SIGHUP split, and the `camera-service config` commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from camera_service import cli, config
from camera_service.config import (
    LIVE_KEYS,
    ConfigError,
    Settings,
    iter_fields,
    load_settings,
    masked_dict,
    split_reload,
    validate,
)

SECRET = "jwt-S3cr3t-value-0123456789abcdef0123"
PASSWORD = "rtsp-Pa55w0rd-xyz"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CAMERA_SERVICE_* from the outside, and no /etc/camera-service/config.yaml."""
    for name in list(os.environ):
        if name.startswith("CAMERA_SERVICE_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", tmp_path / "absent" / "config.yaml")


def write_yaml(tmp_path: Path, data: Any, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def load(
    tmp_path: Path, data: Any = None, env: dict[str, str] | None = None
) -> tuple[Settings, Path | None]:
    path = write_yaml(tmp_path, data) if data is not None else None
    return load_settings(path, env or {})


def config_error(tmp_path: Path, data: Any = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, env)
    return str(info.value)


# --- defaults and precedence ----------------------------------------


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    settings, used = load_settings(None, {})
    assert used is None
    assert settings == Settings()
    assert settings.server.port == 8002
    assert settings.health.port == 8003
    assert settings.server.max_connections == 1000
    assert settings.security.jwt.secret_key is None  # never a hard-coded secret
    assert settings.security.rate_limit.requests_per_minute == 120
    assert settings.cameras.sources == []
    assert settings.storage.data_dir is None


def test_default_file_is_read_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_yaml(tmp_path, {"server": {"port": 9100}}, "default.yaml")
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", path)
    settings, used = load_settings(None, {})
    assert (settings.server.port, used) == (9100, path)


def test_config_env_var_names_the_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, {"server": {"port": 9200}})
    settings, used = load_settings(None, {"CAMERA_SERVICE_CONFIG": str(path)})
    assert (settings.server.port, used) == (9200, path)


def test_yaml_overrides_defaults_and_env_overrides_yaml(tmp_path: Path) -> None:
    data = {"server": {"port": 9000, "max_connections": 50}, "logging": {"level": "debug"}}
    settings, _ = load(tmp_path, data, {"CAMERA_SERVICE_SERVER_PORT": "9001"})
    assert settings.server.port == 9001  # env wins
    assert settings.server.max_connections == 50  # from YAML
    assert settings.logging.level == "DEBUG"  # normalised
    assert settings.server.ping_interval == 30.0  # default


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    settings, _ = load_settings(path, {})
    assert settings == Settings()


# --- environment rule ----------------------------------------


def test_env_server_port_and_max_connections(tmp_path: Path) -> None:
    settings, _ = load(
        tmp_path,
        env={"CAMERA_SERVICE_SERVER_PORT": "9000", "CAMERA_SERVICE_SERVER_MAX_CONNECTIONS": "5000"},
    )
    assert settings.server.port == 9000
    assert settings.server.max_connections == 5000


def test_env_jwt_secret_alias_is_taken_verbatim(tmp_path: Path) -> None:
    raw = "0123456789"  # would be an int if read as YAML
    settings, _ = load(tmp_path, env={"CAMERA_SERVICE_JWT_SECRET": raw})
    assert settings.security.jwt.secret_key is not None
    assert settings.security.jwt.secret_key.get_secret_value() == raw


def test_env_deep_keys_use_double_underscore(tmp_path: Path) -> None:
    settings, _ = load(
        tmp_path,
        {"security": {"rate_limit": {"requests_per_minute": 60}}},
        {
            "CAMERA_SERVICE_SECURITY_RATE_LIMIT__REQUESTS_PER_MINUTE": "600",
            "CAMERA_SERVICE_SERVER_TLS__CERT_FILE": "/etc/ssl/c.pem",
            "CAMERA_SERVICE_SERVER_TLS__KEY_FILE": "/etc/ssl/k.pem",
        },
    )
    assert settings.security.rate_limit.requests_per_minute == 600
    assert settings.server.tls.cert_file == Path("/etc/ssl/c.pem")


def test_env_values_are_yaml(tmp_path: Path) -> None:
    settings, _ = load(
        tmp_path,
        env={
            "CAMERA_SERVICE_CAMERAS_HOTPLUG": "false",
            "CAMERA_SERVICE_SNAPSHOTS_WARM": "[cam0, lab]",
            "CAMERA_SERVICE_CAMERAS_SOURCES": "[{type: test, id: lab}]",
        },
    )
    assert settings.cameras.hotplug is False
    assert settings.snapshots.warm == ["cam0", "lab"]
    assert [s.id for s in settings.cameras.sources] == ["lab"]


# --- strictness: unknown keys ---------------------------------------------------------------


def test_unknown_section_in_yaml(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"servr": {"port": 1234}})
    assert "servr" in msg
    assert "unknown key" in msg
    # a whole section may hold secrets: its keys are named, not its values
    assert "port" in msg and "1234" not in msg
    assert "allowed here: cameras, health, logging" in msg


def test_unknown_key_in_yaml(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"server": {"prot": 8123}})
    assert "server.prot" in msg
    assert "8123" in msg


def test_unknown_key_in_known_section_via_env(tmp_path: Path) -> None:
    msg = config_error(tmp_path, env={"CAMERA_SERVICE_SERVER_PROT": "8124"})
    assert "server.prot" in msg
    assert "8124" in msg


def test_unknown_env_section(tmp_path: Path) -> None:
    msg = config_error(tmp_path, env={"CAMERA_SERVICE_SERVRE_PORT": "8125"})
    assert "CAMERA_SERVICE_SERVRE_PORT" in msg
    assert "server" in msg  # lists the valid sections


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in config_error(tmp_path, ["server"])


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [port: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, {})


# --- strictness: invalid values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "shown"),
    [
        ({"server": {"port": 70000}}, "server.port", "70000"),
        ({"server": {"max_connections": -5}}, "server.max_connections", "-5"),
        ({"server": {"ping_interval": 0}}, "server.ping_interval", "0"),
        ({"retention": {"max_count": -1}}, "retention.max_count", "-1"),
        ({"logging": {"format": "xml"}}, "logging.format", "xml"),
        ({"mediamtx": {"manage": "sometimes"}}, "mediamtx.manage", "sometimes"),
        ({"logging": {"level": "verbose"}}, "logging.level", "VERBOSE"),
        ({"snapshots": {"warm": ["../etc"]}}, "snapshots.warm.0", "../etc"),
        ({"server": {"tls": {"cert_file": "/c.pem"}}}, "server.tls", "key_file"),
    ],
)
def test_invalid_value_names_key_and_value(
    tmp_path: Path, data: dict[str, Any], key: str, shown: str
) -> None:
    msg = config_error(tmp_path, data)
    assert key in msg
    assert shown in msg


def test_invalid_env_value_names_key(tmp_path: Path) -> None:
    msg = config_error(tmp_path, env={"CAMERA_SERVICE_SERVER_PORT": "70000"})
    assert "server.port" in msg
    assert "70000" in msg


def test_warn_percent_must_be_below_block_percent(tmp_path: Path) -> None:
    for warn in (90, 95):
        msg = config_error(tmp_path, {"storage": {"warn_percent": warn, "block_percent": 90}})
        assert "storage" in msg
        assert "warn_percent" in msg


def test_duplicate_source_ids(tmp_path: Path) -> None:
    sources = [{"type": "test", "id": "lab"}, {"type": "rtsp", "id": "lab", "url": "rtsp://h/p"}]
    msg = config_error(tmp_path, {"cameras": {"sources": sources}})
    assert "cameras.sources" in msg
    assert "duplicate source id 'lab'" in msg


@pytest.mark.parametrize(
    "url", ["rtsp://admin:secret@10.0.0.5/stream", "rtsp://admin@10.0.0.5/s", "http://h/p"]
)
def test_rtsp_url_with_credentials_or_wrong_scheme(tmp_path: Path, url: str) -> None:
    sources = [{"type": "rtsp", "id": "gate", "url": url}]
    msg = config_error(tmp_path, {"cameras": {"sources": sources}})
    assert "cameras.sources.0.rtsp.url" in msg


def test_bad_source_id_and_type(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"cameras": {"sources": [{"type": "test", "id": "a/b"}]}})
    assert "cameras.sources.0.test.id" in msg
    msg = config_error(tmp_path, {"cameras": {"sources": [{"type": "onvif", "id": "x"}]}})
    assert "cameras.sources.0" in msg
    assert "onvif" in msg


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"server": {"port": -1}, "health": {"port": 99999}})
    assert "server.port" in msg
    assert "health.port" in msg


# --- secrets ----------------------------------------


def test_secret_not_in_error_for_invalid_secret_value(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"security": {"jwt": {"secret_key": [SECRET]}}})
    assert "security.jwt.secret_key" in msg
    assert SECRET not in msg


def test_secret_not_in_error_when_another_key_is_bad(tmp_path: Path) -> None:
    msg = config_error(
        tmp_path,
        {
            "server": {"port": 70000},
            "cameras": {
                "sources": [
                    {"type": "rtsp", "id": "gate", "url": "rtsp://h/p", "password": PASSWORD}
                ]
            },
        },
        {"CAMERA_SERVICE_JWT_SECRET": SECRET},
    )
    assert "server.port" in msg
    assert SECRET not in msg
    assert PASSWORD not in msg


def test_unknown_secret_like_key_is_masked(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"security": {"jwt": {"secret": SECRET}}})
    assert "security.jwt.secret" in msg
    assert SECRET not in msg


# A secret inside a reported value that is a container (a whole section or source) or
# a URL must not be echoed either.
LEAKS = {
    "url credentials": {
        "cameras": {"sources": [{"type": "rtsp", "id": "g", "url": f"rtsp://u:{PASSWORD}@h/p"}]}
    },
    "duplicate ids": {
        "cameras": {
            "sources": [
                {"type": "rtsp", "id": "g", "url": "rtsp://h/p", "password": PASSWORD},
                {"type": "test", "id": "g"},
            ]
        }
    },
    "misspelt section": {"securty": {"jwt": {"secret_key": PASSWORD}}},
    "unknown source type": {
        "cameras": {"sources": [{"type": "onvif", "id": "g", "password": PASSWORD}]}
    },
}


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_secret_not_in_error_messages(tmp_path: Path, case: str) -> None:
    msg = config_error(tmp_path, LEAKS[case])
    assert PASSWORD not in msg


def test_masked_dict_hides_secrets() -> None:
    settings = validate(
        {
            "security": {"jwt": {"secret_key": SECRET}},
            "cameras": {
                "sources": [
                    {
                        "type": "rtsp",
                        "id": "gate",
                        "url": "rtsp://10.0.0.5/s",
                        "username": "viewer",
                        "password": PASSWORD,
                    }
                ]
            },
        }
    )
    data = masked_dict(settings)
    text = yaml.safe_dump(data)
    assert SECRET not in text
    assert PASSWORD not in text
    assert data["security"]["jwt"]["secret_key"] == "***"
    assert data["cameras"]["sources"][0]["password"] == "***"
    assert data["cameras"]["sources"][0]["username"] == "viewer"
    assert SECRET not in repr(settings)  # SecretStr hides it in reprs too


def test_masked_dict_is_plain_data_that_validates_back() -> None:
    data = masked_dict(Settings())
    assert isinstance(data["storage"], dict)
    assert data["cameras"]["device_root"] == "/dev"
    assert validate(data) == Settings()


# --- SIGHUP split ----------------------------------------


def test_split_reload_live_and_restart() -> None:
    old = Settings()
    new = validate({"logging": {"level": "DEBUG"}, "server": {"port": 9000}})
    live, restart = split_reload(old, new)
    assert live == ["logging.level"]
    assert restart == ["server.port"]


def test_split_reload_nested_and_list_keys() -> None:
    old = Settings()
    new = validate(
        {
            "security": {"rate_limit": {"requests_per_minute": 5}, "jwt": {"secret_key": SECRET}},
            "cameras": {"sources": [{"type": "test", "id": "lab"}]},
        }
    )
    live, restart = split_reload(old, new)
    assert live == ["cameras.sources", "security.rate_limit.requests_per_minute"]
    assert restart == ["security.jwt.secret_key"]
    assert split_reload(new, new) == ([], [])


def test_live_keys_are_marked_fields() -> None:
    assert "logging.level" in LIVE_KEYS
    assert "server.port" not in LIVE_KEYS
    assert {k for k, _, is_live in iter_fields() if is_live} == LIVE_KEYS


# --- CLI ----------------------------------------


def test_cli_config_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_yaml(tmp_path, {"server": {"port": 9000}})
    assert cli.main(["--config", str(path), "config", "check"]) == 0
    out, err = capsys.readouterr()
    assert "configuration OK" in out
    assert str(path) in out
    assert err == ""


def test_cli_config_check_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "check"]) == 0
    assert "built-in defaults" in capsys.readouterr().out


def test_cli_config_check_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_yaml(tmp_path, {"server": {"port": 70000}})
    assert cli.main(["--config", str(path), "config", "check"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "server.port" in err
    assert "70000" in err


def test_cli_config_check_bad_env(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAMERA_SERVICE_SERVER_MAX_CONNECTIONS", "0")
    assert cli.main(["config", "check"]) == 2
    assert "server.max_connections" in capsys.readouterr().err


def test_cli_config_env_names_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_yaml(tmp_path, {"servr": {}})
    monkeypatch.setenv("CAMERA_SERVICE_CONFIG", str(path))
    assert cli.main(["config", "check"]) == 2
    assert "servr" in capsys.readouterr().err


def test_cli_config_show_masks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = {"type": "rtsp", "id": "gate", "url": "rtsp://10.0.0.5/s", "password": PASSWORD}
    path = write_yaml(tmp_path, {"cameras": {"sources": [source]}})
    monkeypatch.setenv("CAMERA_SERVICE_JWT_SECRET", SECRET)
    monkeypatch.setenv("CAMERA_SERVICE_SERVER_PORT", "9300")
    assert cli.main(["--config", str(path), "config", "show"]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert PASSWORD not in out + err
    shown = yaml.safe_load(out)
    assert shown["server"]["port"] == 9300
    assert shown["security"]["jwt"]["secret_key"] == "***"
    assert shown["cameras"]["sources"][0]["password"] == "***"


def test_text_keys_take_env_values_verbatim() -> None:
    settings, _ = load_settings(
        None,
        {
            "CAMERA_SERVICE_REGISTRY_INSTANCE_ID": "0042",
            "CAMERA_SERVICE_SECURITY_JWT__SECRET_KEY": "12345",
            "CAMERA_SERVICE_REGISTRY_ENDPOINTS": "[http://127.0.0.1:2379, http://127.0.0.1:2380]",
        },
    )
    assert settings.registry.instance_id == "0042"
    assert settings.security.jwt.secret_key is not None
    assert settings.security.jwt.secret_key.get_secret_value() == "12345"
    assert settings.registry.endpoints == ["http://127.0.0.1:2379", "http://127.0.0.1:2380"]
