"""Media file names: one strict rule for every file method, RPC and HTTP alike, and
the media kinds with their extensions (what the index lists and retention deletes).

A client names a file by its plain basename inside one media directory. Anything
that could climb out of it, hide in it or confuse a shell or a log is refused before
the file system is touched; opening and deleting then go through the directory's
own descriptor with ``O_NOFOLLOW``, so a symlink planted in a media directory can
never lead outside it (api.md §4, §7). A file with more than one hard link is not
served or listed either: its other name may lie outside the media directory, and the
service never leaves such links behind.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Literal

MAX_NAME_BYTES = 255  # NAME_MAX on Linux file systems

Kind = Literal["recording", "snapshot"]
KINDS: tuple[Kind, ...] = ("recording", "snapshot")
EXTENSIONS: dict[Kind, frozenset[str]] = {
    "recording": frozenset({".mp4", ".ts"}),
    "snapshot": frozenset({".jpg", ".jpeg", ".png"}),
}

# Control characters (C0, DEL, C1) and the separators of every platform we might
# meet through a mounted share.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")
# Any percent escape: names arrive decoded, so one that still carries "%2f" or
# "%252e" was (double-)encoded by a client or a proxy: a traversal attempt or a
# mistake, never one of our media files.
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


def is_own_file(st: os.stat_result) -> bool:
    """A regular file whose only name is the one in the media directory."""
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


class BadName(ValueError):
    """A name that is not a plain basename; the message says why (no path echoed)."""


def check_basename(name: object) -> str:
    """``name`` if it is a plain, visible basename; else :class:`BadName`."""
    if not isinstance(name, str):
        raise BadName("must be a string")
    if not name:
        raise BadName("must not be empty")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise BadName(f"must be at most {MAX_NAME_BYTES} bytes")
    if _FORBIDDEN.search(name):
        raise BadName("must be a plain file name (no path separators or control characters)")
    if _ENCODED.search(name):
        raise BadName("must not contain percent-encoded characters")
    if name.startswith("."):
        # "." and ".." and hidden files: the recorder's work files start with a dot.
        raise BadName("must not start with a dot")
    if name != name.strip():
        raise BadName("must not start or end with white space")
    return name


def is_media_name(kind: Kind, name: str) -> bool:
    """A media file name of ``kind``: a plain basename with one of its extensions."""
    dot = name.rfind(".")  # the cheap test first: most names in a media dir pass it
    if dot <= 0 or name[dot:].lower() not in EXTENSIONS[kind]:
        return False
    try:
        check_basename(name)
    except BadName:
        return False
    return True


def open_media(directory: Path, name: str) -> int:
    """A read-only descriptor of the regular file ``name`` directly in ``directory``.

    Raises :class:`BadName` for a bad name, ``FileNotFoundError`` when there is no such
    regular file (a symlink, a directory, a device or a hard link counts as none)."""
    check_basename(name)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
            )
        except OSError as exc:
            # ELOOP: a symlink; ENXIO/EISDIR and friends: not a file we serve.
            raise FileNotFoundError(name) from exc
    finally:
        os.close(dir_fd)
    if not is_own_file(os.fstat(fd)):
        os.close(fd)
        raise FileNotFoundError(name)
    return fd


def stat_media(directory: Path, name: str) -> os.stat_result:
    """``lstat`` of the regular file ``name`` in ``directory`` (see :func:`is_own_file`);
    else FileNotFoundError."""
    check_basename(name)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise FileNotFoundError(name) from exc
    finally:
        os.close(dir_fd)
    if not is_own_file(st):
        raise FileNotFoundError(name)
    return st


def remove_media(directory: Path, name: str) -> int:
    """Delete the regular file ``name`` in ``directory``; returns the bytes freed.

    Only the directory entry is ever removed; a symlink is refused, not followed."""
    check_basename(name)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            raise FileNotFoundError(name) from exc
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(name)
        os.unlink(name, dir_fd=dir_fd)
        return st.st_size
    finally:
        os.close(dir_fd)
