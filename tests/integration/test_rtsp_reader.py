"""RtspReader, the in-process reader that holds a recorded stream up: against a scripted
RTSP server (framing, keepalives, TEARDOWN, stalls, errors) and a real GStreamer camera."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from camera_service.net.rtsp_reader import RtspReader, media_controls
from tests.support.rtsp_server import RtspCamera

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nt=0 0\r\na=control:*\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"
    "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\na=control:trackID=1\r\n"
)


def frame(channel: int, size: int) -> bytes:
    return b"$" + bytes([channel]) + size.to_bytes(2, "big") + b"\x80" * size


@dataclass
class Request:
    method: str
    uri: str
    headers: dict[str, str]


@dataclass
class Script:
    """How the scripted server answers; every request is recorded."""

    public: str = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"
    describe_status: int = 200
    answer: bool = True  # False: accept, read, never answer
    after_play: bytes = frame(0, 1200) + frame(1, 60_000) + b"\r\n" + frame(0, 0)
    keepalive_status: int = 200
    close_after_play: bool = False
    requests: list[Request] = field(default_factory=list)
    seen: asyncio.Event = field(default_factory=asyncio.Event)

    def wait_for(self, method: str, count: int = 1) -> Callable[[], bool]:
        return lambda: sum(r.method == method for r in self.requests) >= count


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.server: asyncio.Server | None = None
        self.port = 0
        self.clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.clients.values():
            writer.close()
        await asyncio.gather(*self.clients)
        await self.server.wait_closed()

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not done():
                self.script.seen.clear()
                await self.script.seen.wait()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        s = self.script
        task = asyncio.current_task()
        assert task is not None
        self.clients[task] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, uri, _ = lines[0].split(" ")
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                s.requests.append(Request(method, uri, headers))
                s.seen.set()
                if not s.answer:
                    continue
                writer.write(self._answer(method, headers["cseq"]))
                if method == "PLAY":
                    writer.write(s.after_play)
                    if s.close_after_play:
                        await writer.drain()
                        writer.close()
                        return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
        finally:
            self.clients.pop(task, None)

    def _answer(self, method: str, cseq: str) -> bytes:
        s = self.script
        status, extra, body = 200, [], b""
        if method == "OPTIONS":
            extra.append(f"Public: {s.public}")
        elif method == "DESCRIBE":
            status = s.describe_status
            if status == 200:
                body = SDP.encode()
                extra += [f"Content-Base: {self.url}/", "Content-Type: application/sdp"]
        elif method == "SETUP":
            extra.append("Session: 12345678;timeout=60")
        reason = {200: "OK", 404: "Not Found", 454: "Session Not Found"}
        if method == "GET_PARAMETER":
            status = s.keepalive_status
        head = [f"RTSP/1.0 {status} {reason[status]}", f"CSeq: {cseq}", *extra]
        head.append(f"Content-Length: {len(body)}")
        answer = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        if method == "GET_PARAMETER":  # interleaved between frames, as a server would
            answer = frame(0, 500) + answer + frame(0, 500)
        return answer


async def run_reader(reader: RtspReader) -> asyncio.Task[str]:
    return asyncio.get_running_loop().create_task(reader.run())


async def test_sets_every_media_up_plays_and_keeps_the_session_alive() -> None:
    script = Script()
    async with ScriptedServer(script) as server:
        reader = RtspReader(server.url, keepalive=0.05)
        task = await run_reader(reader)
        await server.until(script.wait_for("GET_PARAMETER", 3))
        await asyncio.wait_for(reader.flowing.wait(), 10)
        task.cancel()
        await asyncio.wait({task})
        await server.until(script.wait_for("TEARDOWN"))
    methods = [r.method for r in script.requests]
    assert methods[:5] == ["OPTIONS", "DESCRIBE", "SETUP", "SETUP", "PLAY"]
    setups = [r for r in script.requests if r.method == "SETUP"]
    # a=control resolved against Content-Base; interleaved channel pairs per media.
    assert [r.uri for r in setups] == [f"{server.url}/trackID=0", f"{server.url}/trackID=1"]
    assert [r.headers["transport"] for r in setups] == [
        "RTP/AVP/TCP;unicast;interleaved=0-1",
        "RTP/AVP/TCP;unicast;interleaved=2-3",
    ]
    assert "session" not in setups[0].headers and setups[1].headers["session"] == "12345678"
    later = [r for r in script.requests if r.method in ("PLAY", "GET_PARAMETER", "TEARDOWN")]
    assert all(r.headers["session"] == "12345678" for r in later)
    assert all(r.uri == f"{server.url}/" for r in later)  # the aggregate control (a=control:*)
    assert task.cancelled() and reader.playing
    # Every payload was dropped by its length, keepalive answers between them parsed.
    assert reader.bytes_read >= 1200 + 60_000 + 3 * 2 * 500


async def test_keepalive_is_options_when_the_server_has_no_get_parameter() -> None:
    script = Script(public="OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN")
    async with ScriptedServer(script) as server:
        reader = RtspReader(server.url, keepalive=0.05)
        task = await run_reader(reader)
        await server.until(script.wait_for("OPTIONS", 3))
        task.cancel()
        await asyncio.wait({task})
    assert not any(r.method == "GET_PARAMETER" for r in script.requests)
    assert script.requests[-1].method == "TEARDOWN"


async def test_a_server_that_answers_nothing_ends_the_run_after_the_timeout() -> None:
    script = Script(answer=False)
    async with ScriptedServer(script) as server:
        why = await asyncio.wait_for(RtspReader(server.url, io_timeout=0.2).run(), 10)
    assert why == "no answer to OPTIONS within 0.2 s"


async def test_a_stream_that_stalls_after_play_ends_the_run_after_the_timeout() -> None:
    script = Script(after_play=b"")
    async with ScriptedServer(script) as server:
        reader = RtspReader(server.url, io_timeout=0.2)
        why = await asyncio.wait_for(reader.run(), 10)
    assert reader.playing and why == "no data for 0.2 s"


async def test_a_404_fails_the_run_with_the_status() -> None:
    script = Script(describe_status=404)
    async with ScriptedServer(script) as server:
        why = await asyncio.wait_for(RtspReader(server.url).run(), 10)
    assert why == "DESCRIBE answered 404 Not Found"


async def test_an_error_answer_to_a_keepalive_ends_the_run() -> None:
    script = Script(keepalive_status=454)
    async with ScriptedServer(script) as server:
        why = await asyncio.wait_for(RtspReader(server.url, keepalive=0.05).run(), 10)
    assert why == "GET_PARAMETER answered 454 Session Not Found"


async def test_the_server_closing_ends_the_run() -> None:
    script = Script(close_after_play=True)
    async with ScriptedServer(script) as server:
        reader = RtspReader(server.url)
        why = await asyncio.wait_for(reader.run(), 10)
    assert why == "the server closed the connection" and reader.bytes_read == 61_200


async def test_nothing_listening() -> None:
    why = await RtspReader("rtsp://127.0.0.1:1/cam").run()
    assert why == "127.0.0.1:1 refused the connection"


def test_media_controls_follow_rfc_2326() -> None:
    base = "rtsp://h:8554/cam/"
    sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:rtsp://other/x\r\nm=audio 0 RTP/AVP 0\r\n"
    assert media_controls(sdp, base) == (base, ["rtsp://other/x", base])
    sdp = "v=0\r\na=control:agg\r\nm=video 0 RTP/AVP 96\r\na=control:streamid=0\r\n"
    assert media_controls(sdp, base) == (base + "agg", [base + "streamid=0"])
    # No Content-Base, the request URL: relative controls are below it, not beside it.
    sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=control:streamid=0\r\n"
    assert media_controls(sdp, "rtsp://h/cam") == ("rtsp://h/cam", ["rtsp://h/cam/streamid=0"])


async def test_plays_a_gstreamer_camera() -> None:
    async with RtspCamera(320, 180, 15) as camera:
        reader = RtspReader(camera.url)
        task = await run_reader(reader)
        try:
            await asyncio.wait_for(reader.flowing.wait(), 20)
        finally:
            task.cancel()
            await asyncio.wait({task})
        assert reader.playing and reader.session_id and reader.bytes_read > 0
