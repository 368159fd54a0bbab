"""The ``camera-service`` command: run (default), config check/show, token, keys."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from camera_service import __version__
from camera_service.config import ConfigError, Settings, load_settings, masked_dict

DESCRIPTION = (
    "Run the camera service (the default), check or show its configuration, make "
    "tokens and dashboard links, manage API keys, or talk to a running service."
)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from camera_service.app import run
    from camera_service.observability.logging import setup_logging

    setup_logging(settings.logging)
    return run(settings, args.config_used)


def _config_check(args: argparse.Namespace, settings: Settings) -> int:
    source = str(args.config_used) if args.config_used else "built-in defaults"
    print(f"configuration OK ({source})")
    return 0


def _config_show(args: argparse.Namespace, settings: Settings) -> int:
    print(yaml.safe_dump(masked_dict(settings), sort_keys=False), end="")
    return 0


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    import orjson

    from camera_service.app.doctor import Level, as_dicts, as_text, diagnose

    findings = asyncio.run(diagnose(settings))
    if args.json:
        print(orjson.dumps(as_dicts(findings), option=orjson.OPT_INDENT_2).decode())
    else:
        print(as_text(findings))
    return 1 if any(f.level is Level.FAIL for f in findings) else 0


def build_parser() -> argparse.ArgumentParser:
    from camera_service.auth import commands as auth_commands
    from camera_service.record import commands as record_commands

    # --config is accepted before or after the subcommand (`camera-service run --config X`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="YAML config (default: $CAMERA_SERVICE_CONFIG, else "
        "/etc/camera-service/config.yaml if present, else built-in defaults)",
    )
    parser = argparse.ArgumentParser(
        prog="camera-service", description=DESCRIPTION, parents=[common]
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", parser_class=_subparser(common))
    run_p = sub.add_parser("run", help="run the service (default)")
    run_p.set_defaults(func=_run)
    cfg = sub.add_parser("config", help="validate or print the effective configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    cfg_sub.add_parser("check", help="validate and exit").set_defaults(func=_config_check)
    cfg_sub.add_parser("show", help="print the effective config, secrets masked").set_defaults(
        func=_config_show
    )
    doctor = sub.add_parser(
        "doctor", help="check what the service needs here (MediaMTX, FFmpeg, directories)"
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.set_defaults(func=_doctor)
    auth_commands.register(sub)
    record_commands.register(sub)
    client = sub.add_parser(
        "client",
        add_help=False,
        help="talk to a running service: ping, cameras, status, snapshot, record, files "
        "(see: camera-service client --help)",
    )
    client.add_argument("client_args", nargs=argparse.REMAINDER)
    client.set_defaults(func=lambda args, _settings: _client(args.client_args))
    parser.set_defaults(func=_run)
    return parser


def _subparser(common: argparse.ArgumentParser) -> type[argparse.ArgumentParser]:
    class Sub(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parents", [common])
            super().__init__(*args, **kwargs)

    return Sub


def _client(argv: Sequence[str]) -> int:
    # Imported only here: the service process never loads the SDK.
    from camera_service.client.cli import main as client_main

    return client_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `client` is handed over before parsing (a --config before it is ignored): a client
    # of a running service needs no config here.
    skip = 2 if argv[:1] == ["--config"] else int(bool(argv) and argv[0].startswith("--config="))
    if argv[skip : skip + 1] == ["client"]:
        return _client(argv[skip + 1 :])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings, used = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"camera-service: {exc}", file=sys.stderr)
        return 2
    args.config_used = used
    code: int = args.func(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
