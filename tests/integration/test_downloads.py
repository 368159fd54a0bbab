"""Downloads over HTTP (api.md §6) against the real service on both ports, through real
sockets: bytes, headers, ranges, conditional requests, keep-alive, every credential
form, hostile names and planted symlinks, and sendfile (no copy through Python).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import subprocess
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import uvloop

from camera_service.app import Application
from camera_service.net import httpserver
from camera_service.net.httpserver import FileBody, HttpRequest, HttpServer, Response, Router
from tests.conftest import make_settings, make_token
from tests.support.hostile_names import URL_NAMES, plant_symlinks
from tests.support.system import require
from tests.support.tls import self_signed

WAIT = 60.0  # generous: other engineers' tests load the same two cores
PORTS = ("api", "health")
KINDS = ("recordings", "snapshots")
SENTINEL = b"SENTINEL-outside-the-media-dirs-7f3a9c"
BIG = 64 * 1024 * 1024


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Media:
    mp4: bytes
    png: bytes


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """A real H.264 MP4 and a real PNG made by FFmpeg."""
    require("ffmpeg")
    out = tmp_path_factory.mktemp("media")
    source = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"]
    common = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run(
        [
            *common,
            *source,
            *("-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"),
            str(out / "clip.mp4"),
        ],
        check=True,
        timeout=WAIT,
    )
    subprocess.run([*common, *source, "-frames:v", "1", str(out / "frame.png")], check=True)
    return Media((out / "clip.mp4").read_bytes(), (out / "frame.png").read_bytes())


@dataclass
class Stack:
    app: Application
    tmp: Path
    clip: str = "lab_2025-01-15_14-30-00.mp4"
    frame: str = "lab_snapshot_2025-01-15_14-30-00.png"

    def port(self, which: str) -> int:
        return self.app.ws_port if which == "api" else self.app.health_port

    def url(self, which: str, kind: str, name: str) -> str:
        return f"http://127.0.0.1:{self.port(which)}/files/{kind}/{name}"


@pytest.fixture
async def stack(tmp_path: Path, media: Media) -> AsyncIterator[Stack]:
    app = Application(make_settings(tmp_path))
    await app.start()
    try:
        s = Stack(app, tmp_path)
        (app.paths.recordings / s.clip).write_bytes(media.mp4)
        (app.paths.snapshots / s.frame).write_bytes(media.png)
        # "secret.txt" next to, above and around the media dirs: what traversal aims at
        for d in {tmp_path, app.paths.data_dir, app.paths.recordings.parent}:
            (d / "secret.txt").write_bytes(SENTINEL)
        yield s
    finally:
        await stop(app)


async def stop(app: Application) -> None:
    """Stop once the media index has probed what the test wrote (its ffprobe runs are
    not the subject here, and a probe cut short by stop is the index's concern)."""
    if app.phase == "ready":
        await app.index.settled(WAIT)
    await app.stop()


def auth(role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(role)}"}


# --- a raw HTTP client: nothing normalised, every byte seen ---------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def read_reply(reader: asyncio.StreamReader, head_only: bool = False) -> Reply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = 0 if head_only or status == 304 else int(headers["content-length"])
    body = await asyncio.wait_for(reader.readexactly(length), WAIT)
    return Reply(status, headers, body)


def request_bytes(target: str, headers: dict[str, str] | None = None, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@contextlib.asynccontextmanager
async def raw(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def fetch(
    port: int, target: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> Reply:
    async with raw(port) as (reader, writer):
        writer.write(request_bytes(target, headers, method))
        return await read_reply(reader, head_only=method == "HEAD")


def open_fds_to(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
    return count


async def until(predicate: Callable[[], bool], what: str) -> None:
    """A bounded poll of real state, for the few things that send no event."""
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


# --- bytes and headers ------------------------------------------------------------------------


@pytest.mark.parametrize("which", PORTS)
async def test_real_media_downloads_byte_identical_with_headers(
    stack: Stack, media: Media, which: str
) -> None:
    async with aiohttp.ClientSession() as session:
        for kind, name, data, ctype in (
            ("recordings", stack.clip, media.mp4, "video/mp4"),
            ("snapshots", stack.frame, media.png, "image/png"),
        ):
            async with session.get(stack.url(which, kind, name), headers=auth()) as r:
                assert r.status == 200
                assert await r.read() == data
                h = r.headers
                assert h["Content-Type"] == ctype
                assert h["Content-Length"] == str(len(data))
                assert h["Accept-Ranges"] == "bytes"
                assert h["Content-Disposition"] == f'attachment; filename="{name}"'
                assert h["ETag"].startswith('"') and h["Last-Modified"].endswith(" GMT")


async def test_content_types_and_non_ascii_names(stack: Stack) -> None:
    for kind, name, ctype in (
        ("recordings", "a.ts", "video/mp2t"),
        ("recordings", "b.MP4", "video/mp4"),
        ("recordings", "c.mkv", "application/octet-stream"),
        ("snapshots", "d.jpg", "image/jpeg"),
        ("snapshots", "e.jpeg", "image/jpeg"),
        ("snapshots", "f.png", "image/png"),
        ("snapshots", "noext", "application/octet-stream"),
    ):
        getattr(stack.app.paths, kind).joinpath(name).write_bytes(name.encode())
        reply = await fetch(stack.port("health"), f"/files/{kind}/{name}", auth())
        assert (reply.status, reply.headers["content-type"], reply.body) == (
            200,
            ctype,
            name.encode(),
        )
    stack.app.paths.recordings.joinpath("caméra 1.mp4").write_bytes(b"unicode")
    reply = await fetch(stack.port("api"), "/files/recordings/cam%C3%A9ra%201.mp4", auth())
    assert reply.status == 200 and reply.body == b"unicode"
    assert reply.headers["content-disposition"] == (
        "attachment; filename=\"cam_ra 1.mp4\"; filename*=UTF-8''cam%C3%A9ra%201.mp4"
    )


@pytest.mark.parametrize("which", PORTS)
async def test_each_range_form_gets_206_and_the_exact_bytes(
    stack: Stack, media: Media, which: str
) -> None:
    data, size = media.mp4, len(media.mp4)
    target = f"/files/recordings/{stack.clip}"
    for header, start, stop in (
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, size),
        ("bytes=-321", size - 321, size),
        (f"bytes={size - 10}-{size + 1000}", size - 10, size),  # clamped
        ("bytes=7-7", 7, 8),
    ):
        reply = await fetch(stack.port(which), target, {**auth(), "Range": header})
        assert reply.status == 206, header
        assert reply.body == data[start:stop], header
        assert reply.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
        assert reply.headers["content-length"] == str(stop - start)
        assert reply.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("which", PORTS)
async def test_unsatisfiable_invalid_and_multiple_ranges(
    stack: Stack, media: Media, which: str
) -> None:
    size = len(media.mp4)
    target = f"/files/recordings/{stack.clip}"
    for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 9}", "bytes=-0"):
        reply = await fetch(stack.port(which), target, {**auth(), "Range": header})
        assert reply.status == 416, header
        assert reply.headers["content-range"] == f"bytes */{size}"
        assert reply.json() == {"error": "range not satisfiable"}
    # Ignored by choice (RFC 9110 §14.2): the whole file, 200.
    for header in ("bytes=0-1,4-5", "bytes=9-2", "bytes=abc", "lines=1-2"):
        reply = await fetch(stack.port(which), target, {**auth(), "Range": header})
        assert (reply.status, reply.body) == (200, media.mp4), header
        assert "content-range" not in reply.headers


async def test_conditional_requests(stack: Stack, media: Media) -> None:
    port, target = stack.port("api"), f"/files/recordings/{stack.clip}"
    first = await fetch(port, target, auth())
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    reply = await fetch(port, target, {**auth(), "If-None-Match": etag})
    assert (reply.status, reply.body) == (304, b"")
    assert reply.headers["etag"] == etag and "content-length" not in reply.headers
    reply = await fetch(port, target, {**auth(), "If-None-Match": '"stale"'})
    assert (reply.status, reply.body) == (200, media.mp4)

    for if_range in (etag, modified):
        reply = await fetch(port, target, {**auth(), "Range": "bytes=0-9", "If-Range": if_range})
        assert (reply.status, reply.body) == (206, media.mp4[:10])
    # The file changed since the client's copy: If-Range sends it whole.
    path = stack.app.paths.recordings / stack.clip
    path.write_bytes(media.mp4 + b"appended")
    for if_range in (etag, '"other"', "Wed, 01 Jan 2020 00:00:00 GMT"):
        reply = await fetch(port, target, {**auth(), "Range": "bytes=0-9", "If-Range": if_range})
        assert (reply.status, reply.body) == (200, media.mp4 + b"appended")
    assert (await fetch(port, target, {**auth(), "If-None-Match": etag})).status == 200


@pytest.mark.parametrize("which", PORTS)
async def test_head_and_keep_alive_with_several_requests_on_one_connection(
    stack: Stack, media: Media, which: str
) -> None:
    target = f"/files/recordings/{stack.clip}"
    async with raw(stack.port(which)) as (reader, writer):
        writer.write(request_bytes(target, auth(), "HEAD"))
        head = await read_reply(reader, head_only=True)
        assert head.status == 200 and head.headers["content-length"] == str(len(media.mp4))
        assert head.headers["content-type"] == "video/mp4"
        # No body after the HEAD reply: the next bytes are the next response.
        writer.write(request_bytes(target, {**auth(), "Range": "bytes=0-3"}))
        part = await read_reply(reader)
        assert (part.status, part.body) == (206, media.mp4[:4])
        # Pipelined: a whole file, a range, then a JSON answer; each in order.
        writer.write(
            request_bytes(target, auth())
            + request_bytes(f"/files/snapshots/{stack.frame}", {**auth(), "Range": "bytes=-8"})
            + request_bytes("/files/recordings/missing.mp4", auth())
        )
        whole = await read_reply(reader)
        tail = await read_reply(reader)
        missing = await read_reply(reader)
        assert (whole.status, whole.body) == (200, media.mp4)
        assert (tail.status, tail.body) == (206, media.png[-8:])
        assert (missing.status, missing.json()) == (404, {"error": "file not found"})


async def test_a_file_then_the_next_pipelined_answer_on_the_health_port(
    stack: Stack, media: Media
) -> None:
    async with raw(stack.port("health")) as (reader, writer):
        writer.write(
            request_bytes(f"/files/recordings/{stack.clip}", auth())
            + request_bytes("/health/live", {"Connection": "close"})
        )
        assert (await read_reply(reader)).body == media.mp4
        live = await read_reply(reader)
        assert live.status == 200 and live.json()["status"] == "alive"
        assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed as asked


async def test_websocket_upgrade_still_works_beside_files(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"ws://127.0.0.1:{stack.app.ws_port}/ws") as ws,
    ):
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        reply = await asyncio.wait_for(ws.receive_json(), WAIT)
        assert reply["result"] == "pong"


# --- credentials ---------------------------------------------------------------------------------


async def test_every_credential_form(stack: Stack, media: Media) -> None:
    app = stack.app
    key, record = await app.parts.db.run(app.parts.store.keys.create, "downloads", "viewer", None)
    jwt = make_token("viewer")
    target = f"/files/snapshots/{stack.frame}"
    for which in PORTS:
        port = stack.port(which)
        for headers, query in (
            ({"Authorization": f"Bearer {jwt}"}, ""),
            ({"Authorization": f"bearer  {jwt} "}, ""),
            ({"Authorization": f"Bearer {key}"}, ""),
            ({"X-API-Key": key}, ""),
            ({}, f"?token={jwt}"),
            ({}, f"?token={key}"),
            ({"Authorization": f"Bearer {make_token('admin')}"}, ""),
            ({"Authorization": f"Bearer {make_token('operator')}"}, ""),
        ):
            reply = await fetch(port, target + query, headers)
            assert (reply.status, reply.body) == (200, media.png), (which, headers, query)

    await app.parts.db.run(app.parts.store.keys.revoke, record.key_id)
    expired = make_token("viewer", ttl=-10)
    for which in PORTS:
        port = stack.port(which)
        for headers, query, reason in (
            ({}, "", "authentication_required"),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, "", "authentication_required"),
            ({"Authorization": "Bearer"}, "", "authentication_required"),
            ({}, "?token=", "authentication_required"),
            ({"Authorization": f"Bearer {expired}"}, "", "expired"),
            ({}, f"?token={expired}", "expired"),
            ({"Authorization": "Bearer not.a.jwt"}, "", "invalid"),
            ({"Authorization": f"Bearer {jwt[:-4]}AAAA"}, "", "invalid"),
            ({"X-API-Key": key}, "", "invalid"),  # revoked
            ({"X-API-Key": "csk_made-up"}, "", "invalid"),
            ({}, "?token=garbage", "invalid"),
        ):
            for method in ("GET", "HEAD"):
                reply = await fetch(port, target + query, headers, method)
                assert reply.status == 401, (which, headers, query)
                assert reply.headers["www-authenticate"].startswith('Bearer realm="camera-service"')
                assert ("invalid_token" in reply.headers["www-authenticate"]) is (
                    reason != "authentication_required"
                )
                if method == "GET":
                    assert reply.json()["reason"] == reason
                    assert reply.headers["content-type"] == "application/json"
                    assert key not in reply.body.decode() and jwt not in reply.body.decode()
    await app.parts.store.audit.flush()
    rows = app.parts.db.database.query("SELECT event FROM audit_log WHERE event = 'auth_failure'")
    assert len(rows) >= 2 * 2 * 7  # the refused credentials, not the missing ones


async def test_files_require_auth_off_is_live(stack: Stack, media: Media) -> None:
    target = f"/files/recordings/{stack.clip}"
    assert (await fetch(stack.port("api"), target)).status == 401
    # What a SIGHUP reload does with the key (it is live): replace the settings.
    stack.app.settings = make_settings(stack.tmp, security={"files_require_auth": False})
    for which in PORTS:
        reply = await fetch(stack.port(which), target)
        assert (reply.status, reply.body) == (200, media.mp4)
        # Names are still checked without auth.
        assert (await fetch(stack.port(which), "/files/recordings/..%2fsecret.txt")).status == 400
        assert (await fetch(stack.port(which), "/files/recordings/nope.mp4")).status == 404
    stack.app.settings = make_settings(stack.tmp)
    assert (await fetch(stack.port("health"), target)).status == 401


# --- hostile names, symlinks, what lies outside ------------------------------------------------


async def test_every_hostile_url_name_is_refused_on_both_ports_and_kinds(stack: Stack) -> None:
    """Each name is refused 400 (the decoded names are never valid basenames; strict
    UTF-8 decoding refuses the overlong and invalid sequences too)."""
    for which in PORTS:
        for kind in KINDS:
            for name in URL_NAMES:
                reply = await fetch(stack.port(which), f"/files/{kind}/{name}", auth())
                assert reply.status == 400, (which, kind, name, reply)
                body = reply.body.decode()
                assert SENTINEL.decode() not in body and str(stack.tmp) not in body
                assert reply.json()["error"]


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/files/recordings/", 400),
        ("/files/recordings//etc/passwd", 400),
        ("/files/recordings/a/b.mp4", 400),
        ("/files/recordings/lab.mp4/", 400),
        ("/files/recordings/lab.mp4%2F", 400),
        ("/files/recordings/..", 400),
        ("/files/recordings/%2e%2e%2f%2e%2e%2fsecret.txt", 400),
        ("/files/other/secret.txt", 404),
        ("/files/../secret.txt", 404),
        ("/files/%72ecordings/secret.txt", 404),  # "recordings" only decoded
        ("/files/recordings%2f..%2fsecret.txt", 404),
        ("/files/", 404),
        ("/files/recordings/secret.txt", 404),  # a valid name that is not there
        ("/files/recordings/nope%20here.mp4", 404),
    ],
)
async def test_other_targets(stack: Stack, target: str, status: int) -> None:
    for which in PORTS:
        reply = await fetch(stack.port(which), target, auth())
        assert reply.status == status, (which, target)
        assert SENTINEL not in reply.body


@pytest.mark.parametrize("which", PORTS)
async def test_symlinks_fifos_and_dirs_in_the_media_dirs_are_missing(
    stack: Stack, which: str
) -> None:
    outside = stack.tmp / "secret.txt"
    names: dict[str, list[str]] = {}
    for kind in KINDS:
        directory: Path = getattr(stack.app.paths, kind)
        names[kind] = plant_symlinks(directory, outside)
        os.mkfifo(directory / "pipe.mp4")
        (directory / "folder.jpg").mkdir()
        os.symlink(stack.app.paths.recordings / stack.clip, directory / "inner.mp4")
        names[kind] += ["pipe.mp4", "folder.jpg", "inner.mp4"]
    for kind in KINDS:
        for name in names[kind]:
            for method in ("GET", "HEAD"):
                reply = await fetch(stack.port(which), f"/files/{kind}/{name}", auth(), method)
                assert reply.status == 404, (kind, name, method)
                assert SENTINEL not in reply.body


@pytest.mark.parametrize("which", PORTS)
async def test_a_hard_link_to_a_file_outside_is_neither_served_nor_listed(
    stack: Stack, which: str
) -> None:
    outside = stack.tmp / "secret.txt"
    linked = {"recordings": "hard_2025-01-15_14-31-00.mp4", "snapshots": "hard.jpg"}
    for kind, name in linked.items():
        os.link(outside, getattr(stack.app.paths, kind) / name)
    await stack.app.index.rescan()
    listed = {f.name for f in (await stack.app.index.list("recording")).files}
    listed |= {f.name for f in (await stack.app.index.list("snapshot")).files}
    assert stack.clip in listed and not listed & set(linked.values())
    for kind, name in linked.items():
        for method in ("GET", "HEAD"):
            reply = await fetch(stack.port(which), f"/files/{kind}/{name}", auth(), method)
            assert reply.status == 404, (kind, name, method)
            assert SENTINEL not in reply.body


# --- the transfer itself ------------------------------------------------------------------------


def write_big(path: Path) -> str:
    """64 MiB of varied bytes; returns their SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for i in range(BIG // len(block)):
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


async def drain_into_hash(reader: asyncio.StreamReader, length: int) -> str:
    digest = hashlib.sha256()
    while length:
        chunk = await asyncio.wait_for(reader.read(min(length, 1 << 20)), WAIT)
        assert chunk, "connection closed early"
        digest.update(chunk)
        length -= len(chunk)
    return digest.hexdigest()


async def test_a_large_file_is_sent_without_passing_through_python_memory(stack: Stack) -> None:
    """tracemalloc sees every Python allocation of the process (service and client):
    the peak while 64 MiB go through stays a small fraction of that."""
    expected = write_big(stack.app.paths.recordings / "big.mp4")
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.app.health_port)
    try:
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        writer.write(request_bytes("/files/recordings/big.mp4", auth()))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert b" 200 " in head and f"Content-Length: {BIG}".encode() in head
        got = await drain_into_hash(reader, BIG)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
        writer.close()
    assert got == expected
    assert peak < BIG // 16, f"peak {peak} bytes of Python memory for a {BIG}-byte file"


async def test_a_client_that_leaves_mid_file_frees_everything(stack: Stack) -> None:
    path = stack.app.paths.recordings / "big.mp4"
    write_big(path)
    async with raw(stack.port("api")) as (reader, writer):
        writer.write(request_bytes("/files/recordings/big.mp4", auth()))
        await read_reply(reader, head_only=True)
        await reader.readexactly(1000)
        await until(lambda: open_fds_to(path) == 1, "the transfer to hold the file")
    # Closed with unread data: the peer resets; the thread sees it and closes the file.
    await until(lambda: open_fds_to(path) == 0, "the file to be closed")
    reply = await fetch(stack.port("api"), f"/files/recordings/{stack.clip}", auth())
    assert reply.status == 200


async def test_a_stalled_client_is_dropped(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpserver, "SENDFILE_STALL_TIMEOUT", 0.5)
    path = stack.app.paths.recordings / "big.mp4"
    write_big(path)
    async with raw(stack.port("health")) as (reader, writer):
        writer.write(request_bytes("/files/recordings/big.mp4", auth()))
        await read_reply(reader, head_only=True)  # then read nothing: the socket fills
        await until(lambda: open_fds_to(path) == 0, "the stalled transfer to end")
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), WAIT):
                received += len(chunk)
        assert received < BIG  # the connection ended short of the file


async def test_stopping_the_service_ends_transfers_in_progress(stack: Stack) -> None:
    path = stack.app.paths.recordings / "big.mp4"
    write_big(path)
    async with raw(stack.port("api")) as (reader, writer):
        writer.write(request_bytes("/files/recordings/big.mp4", auth()))
        await read_reply(reader, head_only=True)
        await until(lambda: open_fds_to(path) == 1, "the transfer to hold the file")
        await stack.app.index.settled(WAIT)
        await asyncio.wait_for(stack.app.stop(), WAIT)
        await until(lambda: open_fds_to(path) == 0, "the transfer to end")


# --- the server core: drain before a file, HEAD, a file that shrank ------------------------------


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    big_json = b'"' + b"x" * (8 * 1024 * 1024) + b'"'

    async def file_handler(request: HttpRequest) -> Response:
        fd = os.open(data, os.O_RDONLY)
        size = os.fstat(fd).st_size
        if request.query.get("short"):
            size += 10  # announce more than there is: the server must end the stream
        return Response(200, content_type="application/octet-stream", file=FileBody(fd, 0, size))

    async def json_handler(request: HttpRequest) -> Response:
        return Response(200, big_json)

    router = Router()
    router.add("/file", file_handler)
    router.add("/big", json_handler)
    server = HttpServer(router)
    port = await server.start("127.0.0.1", 0)
    try:
        yield port, data
    finally:
        server.stop_listening()
        server.close_idle()


async def test_a_file_waits_for_a_buffered_response_before_it(
    core: tuple[int, Path],
) -> None:
    port, data = core
    async with raw(port) as (reader, writer):
        # 8 MiB of JSON is still in the transport's buffer when the file is due.
        writer.write(request_bytes("/big") + request_bytes("/file") + request_bytes("/big"))
        first = await read_reply(reader)
        second = await read_reply(reader)
        third = await read_reply(reader)
    assert len(first.body) == len(third.body) == 8 * 1024 * 1024 + 2
    assert second.body == data.read_bytes()


async def test_a_file_shorter_than_announced_ends_the_connection(
    core: tuple[int, Path],
) -> None:
    port, data = core
    async with raw(port) as (reader, writer):
        writer.write(request_bytes("/file?short=1") + request_bytes("/file"))
        head = await read_reply(reader, head_only=True)
        assert head.headers["content-length"] == str(data.stat().st_size + 10)
        rest = await asyncio.wait_for(reader.read(), WAIT)  # until the server closes
    assert rest == data.read_bytes()


async def test_head_of_a_file_response_sends_no_body(core: tuple[int, Path]) -> None:
    port, data = core
    before = len(os.listdir("/proc/self/fd"))
    async with raw(port) as (reader, writer):
        writer.write(request_bytes("/file", method="HEAD") + request_bytes("/file"))
        head = await read_reply(reader, head_only=True)
        assert head.headers["content-length"] == str(data.stat().st_size)
        assert (await read_reply(reader)).body == data.read_bytes()
    await until(lambda: len(os.listdir("/proc/self/fd")) <= before, "descriptors closed")


# --- other loops and transports ------------------------------------------------------------------


def test_downloads_under_uvloop(tmp_path: Path, media: Media) -> None:
    """The production loop: sendfile, ranges and keep-alive the same way."""

    async def scenario() -> None:
        app = Application(make_settings(tmp_path))
        await app.start()
        try:
            (app.paths.recordings / "clip.mp4").write_bytes(media.mp4)
            digest = write_big(app.paths.recordings / "big.mp4")
            async with raw(app.ws_port) as (reader, writer):
                writer.write(request_bytes("/files/recordings/big.mp4", auth()))
                await read_reply(reader, head_only=True)
                assert await drain_into_hash(reader, BIG) == digest
                writer.write(
                    request_bytes("/files/recordings/clip.mp4", {**auth(), "Range": "bytes=5-"})
                )
                part = await read_reply(reader)
                assert (part.status, part.body) == (206, media.mp4[5:])
            reply = await fetch(app.health_port, "/files/recordings/..%2fsecret", auth())
            assert reply.status == 400
        finally:
            await stop(app)

    uvloop.run(scenario())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"), WAIT)


async def test_downloads_over_tls_go_in_chunks(
    tmp_path: Path, media: Media, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    settings = make_settings(
        tmp_path, server={"tls": {"cert_file": str(cert), "key_file": str(key)}}
    )
    app = Application(settings)
    await app.start()
    try:
        data = os.urandom(3 * 1024 * 1024 + 17)  # many TLS_CHUNKs
        (app.paths.recordings / "clip.mp4").write_bytes(data)
        tls = ssl.create_default_context(cafile=str(cert))
        url = f"https://127.0.0.1:{app.ws_port}/files/recordings/clip.mp4"
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers=auth(), ssl=tls) as r:
                assert r.status == 200 and await r.read() == data
            async with session.get(url, headers={**auth(), "Range": "bytes=-70000"}, ssl=tls) as r:
                assert r.status == 206 and await r.read() == data[-70000:]
            async with session.get(url, ssl=tls) as r:
                assert r.status == 401
    finally:
        await stop(app)
