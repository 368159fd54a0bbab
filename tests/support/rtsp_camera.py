"""A real RTSP IP camera on loopback: GStreamer's RTSP server serving an H.264 test pattern.

Run with Debian's ``/usr/bin/python3`` (needs ``python3-gst-1.0``,
``gir1.2-gst-rtsp-server-1.0`` and x264enc from ``gstreamer1.0-plugins-ugly``), not the
project venv. Binds 127.0.0.1 only, prints ``READY <port>`` once serving, and exits on
SIGTERM/SIGINT or when its stdin closes (so it never outlives the test that started it).

    /usr/bin/python3 tests/support/rtsp_camera.py --port 0 --path cam \
        --width 640 --height 360 --fps 15 [--user U --password P --auth basic|digest]
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi  # type: ignore[import-not-found, unused-ignore]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import (  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
    GLib,
    Gst,
    GstRtsp,
    GstRtspServer,
)

ROLE = "camera-user"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--path", default="cam", help="mount path, with or without leading /")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--pattern", default="smpte", help="videotestsrc pattern nick")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--auth", choices=("basic", "digest"), default="basic")
    args = p.parse_args(argv)
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    return args


def launch_line(args: argparse.Namespace) -> str:
    # GOP = 1 s and SPS/PPS with every IDR, like a camera a client can join at any time.
    return (
        f"( videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def add_auth(
    server: GstRtspServer.RTSPServer,
    factory: GstRtspServer.RTSPMediaFactory,
    args: argparse.Namespace,
) -> None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    if args.auth == "digest":
        auth.add_digest(args.user, args.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    perms.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(perms)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")  # loopback only, never a routable interface
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(False)  # a fresh pipeline per client: no 503 while a shared one unprepares
    if args.user is not None:
        add_auth(server, factory, args)
    server.get_mount_points().add_factory("/" + args.path.lstrip("/"), factory)

    try:
        source_id = server.attach(None)
    except GLib.Error as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc.message}", file=sys.stderr)
        return 2
    if source_id == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 2

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return False  # GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, quit_loop)
    # The parent holds our stdin open; EOF means it is gone, so go too.
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
        quit_loop,
    )

    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    GLib.source_remove(source_id)  # stop accepting before the process exits
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
