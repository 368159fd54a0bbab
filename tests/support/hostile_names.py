"""File names an attacker or a careless client sends: every file method (RPC and HTTP)
must refuse each of them and touch nothing outside the media directories.

``RPC_NAMES`` are ``filename`` params; ``URL_NAMES`` are what follows
``/files/recordings/`` in a request target, as sent on the wire. ``plant_symlinks``
puts links to a file outside the media dirs inside them, under names that pass the
basename rule, so only the open/stat/unlink guards stand between them and the target.
"""

from __future__ import annotations

import os
from pathlib import Path

RPC_NAMES: list[object] = [
    "",
    ".",
    "..",
    "../secret.txt",
    "../../secret.txt",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "/tmp/secret.txt",
    "//etc/passwd",
    "sub/file.mp4",
    "sub\\file.mp4",
    "..\\..\\secret.txt",
    "C:\\Windows\\win.ini",
    "file.mp4\x00.jpg",
    "\x00",
    "a\x00b.mp4",
    "file\n.mp4",
    "file\r\n.mp4",
    "file\t.mp4",
    "\x1b[31mred.mp4",
    "file\x7f.mp4",
    "file\u0085.mp4",
    "%2e%2e%2fsecret.txt",
    "..%2fsecret.txt",
    "..%2Fsecret.txt",
    "%2E%2E%2Fsecret.txt",
    "..%5csecret.txt",
    "..%5Csecret.txt",
    "%2fetc%2fpasswd",
    "file%00.mp4",
    "%252e%252e%252fsecret.txt",
    ".hidden.mp4",
    ".mtxrec-1-000000.mp4",
    "...",
    "....//secret.txt",
    " ../secret.txt",
    "file.mp4 ",
    " file.mp4",
    "a" * 256 + ".mp4",
    "é" * 200 + ".mp4",
    "~/secret.txt",
    "./file.mp4",
    "file.mp4/",
    "file.mp4/.",
    "/",
    "\\",
    "..;/secret.txt",
    None,
    123,
    ["file.mp4"],
    {"name": "file.mp4"},
    True,
]

URL_NAMES: list[str] = [
    "../secret.txt",
    "..%2fsecret.txt",
    "..%2Fsecret.txt",
    "%2e%2e%2fsecret.txt",
    "%2E%2E/secret.txt",
    "..%5csecret.txt",
    "%2e%2e%5csecret.txt",
    "..\\secret.txt",
    "%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "..%252fsecret.txt",
    "%252e%252e%252fsecret.txt",
    "file%00.mp4",
    "%00",
    "a%0ab.mp4",
    "a%0d%0aX-Injected:%201.mp4",
    "sub/file.mp4",
    "..",
    ".",
    "%2e%2e",
    "%2e",
    ".hidden.mp4",
    "a%7f.mp4",
    "%c0%ae%c0%ae%c0%afsecret.txt",  # overlong UTF-8 dots and slash
    "%ff%fe.mp4",
]

assert len(RPC_NAMES) >= 50 and len(set(map(repr, RPC_NAMES))) == len(RPC_NAMES)


def plant_symlinks(media_dir: Path, target: Path) -> list[str]:
    """Links inside ``media_dir`` to ``target`` (outside it); returns their names."""
    names = ["link.mp4", "link.jpg", "escape.ts"]
    for name in names:
        os.symlink(target, media_dir / name)
    os.symlink(target.parent, media_dir / "dirlink.mp4")
    return [*names, "dirlink.mp4"]
