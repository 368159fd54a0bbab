"""MediaMTX client against a tiny aiohttp stand-in of the Control API v3 written here.

The stand-in answers canned v1.20-style bodies (``available``, ``inboundBytes``,
``tracks2``) or older-style ones (``ready``, ``bytesReceived``, ``tracks``), paginates
the way MediaMTX does, and can be told to fail or hang the next requests. It checks no
schema: the OpenAPI-validating double lives in tests/support/mediamtx/.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from camera_service.media.mediamtx import (
    Info,
    MediaMtxClient,
    MediaMtxError,
    MediaMtxNotFound,
    MediaMtxUnavailable,
    PathState,
    Recording,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SOURCE_WITH_CREDS = "rtsp://admin:hunter2@10.0.0.5:554/stream1"

V120_PATH = {
    "name": "cams/front",
    "confName": "cams/front",
    "source": {"type": "rtspSource", "id": ""},
    "available": True,
    "availableTime": "2026-11-25T10:00:00Z",
    "online": True,
    "onlineTime": "2026-11-25T10:00:00Z",
    "ready": True,  # deprecated twin, still sent
    "readyTime": "2026-11-25T10:00:00Z",
    "tracks": ["H264"],
    "tracks2": [
        {"codec": "H264", "codecProps": {"width": 1280, "height": 720, "profile": "High"}},
        {"codec": "Opus", "codecProps": {"channelCount": 2}},
    ],
    "inboundBytes": 123456,
    "outboundBytes": 654321,
    "inboundFramesInError": 0,
    "bytesReceived": 1,  # deprecated twins must lose to the new names
    "bytesSent": 2,
    "readers": [{"type": "webRTCSession", "id": "a"}, {"type": "rtspSession", "id": "b"}],
    "someFutureField": {"x": 1},
}

OLD_PATH = {
    "name": "cam0",
    "confName": "cam0",
    "source": {"type": "rtspSession", "id": "c"},
    "sourceReady": True,
    "ready": True,
    "readyTime": "2023-05-01T08:00:00Z",
    "tracks": ["H264", "MPEG-4 Audio"],
    "bytesReceived": 1000,
    "bytesSent": 2000,
    "readers": [{"type": "hlsMuxer", "id": ""}],
}


def error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status)


def paginate(req: web.Request, items: list[dict[str, Any]]) -> web.Response:
    """As MediaMTX's paginate2: pageCount 0 for no items, pages past the end empty."""
    per = int(req.query.get("itemsPerPage", "100"))
    page = int(req.query.get("page", "0"))
    count = -(-len(items) // per)
    chunk = items[page * per : (page + 1) * per]
    return web.json_response({"itemCount": len(items), "pageCount": count, "items": chunk})


@dataclass
class FakeMediaMtx:
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: list[dict[str, Any]] = field(default_factory=list)
    recordings: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # method, raw path, json
    fail_next: list[int | str] = field(default_factory=list)  # statuses or "hang"
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/v3/info", self._info)
        r.add_get("/v3/config/paths/list", self._conf_list)
        r.add_get("/v3/config/paths/get/{name:.+}", self._conf_get)
        r.add_post("/v3/config/paths/add/{name:.+}", self._conf_add)
        r.add_patch("/v3/config/paths/patch/{name:.+}", self._conf_patch)
        r.add_post("/v3/config/paths/replace/{name:.+}", self._conf_replace)
        r.add_delete("/v3/config/paths/delete/{name:.+}", self._conf_delete)
        r.add_get("/v3/paths/list", self._paths_list)
        r.add_get("/v3/paths/get/{name:.+}", self._path_get)
        r.add_get("/v3/recordings/list", self._rec_list)
        r.add_get("/v3/recordings/get/{name:.+}", self._rec_get)
        r.add_delete("/v3/recordings/deletesegment", self._rec_delete)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.release.set()  # let hung handlers finish
        assert self.runner is not None
        await self.runner.cleanup()

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _, _ in self.requests if method in (None, m))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.raw_path, body))
        if self.fail_next:
            what = self.fail_next.pop(0)
            if what == "hang":
                await self.release.wait()
                return error(503, "released at teardown")
            assert isinstance(what, int)
            return error(what, f"injected {what}")
        return await handler(request)

    async def _info(self, req: web.Request) -> web.Response:
        return web.json_response({"version": "v1.20.1", "started": "2026-11-25T09:59:58Z"})

    async def _conf_list(self, req: web.Request) -> web.Response:
        return paginate(req, list(self.configs.values()))

    async def _paths_list(self, req: web.Request) -> web.Response:
        return paginate(req, self.paths)

    async def _conf_get(self, req: web.Request) -> web.Response:
        conf = self.configs.get(req.match_info["name"])
        return web.json_response(conf) if conf else error(404, "path configuration not found")

    async def _conf_add(self, req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name in self.configs:
            return error(400, "path already exists")
        body = await req.json()
        source = body.get("source", "")
        if ("://" not in source and "@" in source) or source.endswith("/invalid"):
            # MediaMTX's own validation errors may quote the offending value
            return error(400, f"'{source}' is not a valid URL")
        self.configs[name] = {"name": name, **body}
        return web.json_response({"status": "ok"})

    async def _conf_patch(self, req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in self.configs:
            return error(404, "path configuration not found")
        self.configs[name].update(await req.json())
        return web.json_response({"status": "ok"})

    async def _conf_replace(self, req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in self.configs:
            return error(404, "path configuration not found")
        self.configs[name] = {"name": name, **(await req.json())}
        return web.json_response({"status": "ok"})

    async def _conf_delete(self, req: web.Request) -> web.Response:
        if self.configs.pop(req.match_info["name"], None) is None:
            return error(404, "path configuration not found")
        return web.json_response({"status": "ok"})

    async def _path_get(self, req: web.Request) -> web.Response:
        for p in self.paths:
            if p.get("name") == req.match_info["name"]:
                return web.json_response(p)
        return error(404, "path not found")

    def _recording(self, name: str) -> dict[str, Any]:
        return {"name": name, "segments": [{"start": s} for s in self.recordings[name]]}

    async def _rec_list(self, req: web.Request) -> web.Response:
        return paginate(req, [self._recording(n) for n in sorted(self.recordings)])

    async def _rec_get(self, req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in self.recordings:
            return error(404, "recording not found")
        return web.json_response(self._recording(name))

    async def _rec_delete(self, req: web.Request) -> web.Response:
        segs = self.recordings.get(req.query["path"], [])
        if req.query["start"] not in segs:
            return error(404, "segment not found")
        segs.remove(req.query["start"])
        return web.json_response({"status": "ok"})


@pytest.fixture
async def mtx() -> AsyncIterator[FakeMediaMtx]:
    fake = FakeMediaMtx()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[MediaMtxClient]]:
    made: list[MediaMtxClient] = []
    yield made
    for c in made:
        await c.close()


@pytest.fixture
def make_client(clients: list[MediaMtxClient]) -> Callable[..., MediaMtxClient]:
    def _make(url: str, timeout: float = 5.0, retries: int = 3, **kw: Any) -> MediaMtxClient:
        kw.setdefault("backoff", 0.001)  # keep retries quick; the policy is what is tested
        c = MediaMtxClient(url, timeout, retries, **kw)
        clients.append(c)
        return c

    return _make


@pytest.fixture
def client(mtx: FakeMediaMtx, make_client: Callable[..., MediaMtxClient]) -> MediaMtxClient:
    return make_client(mtx.url)


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- models --------------------------------------------------------------------------


def test_path_state_v120_fields() -> None:
    s = PathState.from_api(V120_PATH)
    assert s == PathState(
        name="cams/front",
        conf_name="cams/front",
        source_type="rtspSource",
        available=True,
        available_time="2026-11-25T10:00:00Z",
        online=True,
        inbound_bytes=123456,
        outbound_bytes=654321,
        readers=2,
        tracks=("H264", "Opus"),
    )


def test_path_state_older_fields() -> None:
    s = PathState.from_api(OLD_PATH)
    assert s.available and s.online  # online falls back to ready
    assert s.available_time == "2023-05-01T08:00:00Z"
    assert (s.inbound_bytes, s.outbound_bytes) == (1000, 2000)
    assert s.tracks == ("H264", "MPEG-4 Audio")
    assert s.readers == 1 and s.source_type == "rtspSession"


def test_path_state_defaults_and_junk() -> None:
    assert PathState.from_api({}) == PathState(name="")
    junk = {
        "name": 5,
        "available": "yes",
        "ready": True,
        "source": None,
        "inboundBytes": None,
        "bytesReceived": True,
        "outboundBytes": 12.0,
        "readers": None,
        "tracks2": [None, {"codec": 3}, {"codec": "H265"}],
    }
    s = PathState.from_api(junk)
    # a mistyped "available" is not taken as true, nor does it fall back to "ready"
    assert (s.name, s.available, s.source_type) == ("", False, None)
    assert (s.inbound_bytes, s.outbound_bytes, s.readers, s.tracks) == (0, 12, 0, ("H265",))
    # the online source of a not-yet-available path
    s = PathState.from_api({"name": "p", "available": False, "online": True})
    assert (s.available, s.online) == (False, True)


def test_info_and_recording_models() -> None:
    assert Info.from_api({"version": "v1.9.0", "started": "x", "extra": 1}) == Info("v1.9.0", "x")
    assert Info.from_api({}) == Info("", None)
    rec = Recording.from_api({"name": "c", "segments": [{"start": "a"}, {"x": 1}, "b"]})
    assert rec == Recording("c", ("a",))


# --- reads ---------------------------------------------------------------------------


async def test_info(client: MediaMtxClient) -> None:
    assert await client.info() == Info("v1.20.1", "2026-11-25T09:59:58Z")


async def test_list_and_get_paths_across_versions(mtx: FakeMediaMtx, client) -> None:
    mtx.paths = [V120_PATH, OLD_PATH]
    paths = await client.list_paths()
    assert set(paths) == {"cams/front", "cam0"}
    assert paths["cams/front"].inbound_bytes == 123456 and paths["cams/front"].available
    assert paths["cam0"].inbound_bytes == 1000 and paths["cam0"].available
    got = await client.get_path("cams/front")  # a name with a slash, sent as %2F
    assert got == paths["cams/front"]
    assert mtx.requests[-1][1] == "/v3/paths/get/cams%2Ffront"
    assert await client.get_path("nope") is None


async def test_list_path_configs_follows_pagination(mtx: FakeMediaMtx, make_client) -> None:
    client = make_client(mtx.url, page_size=2)
    mtx.configs = {f"cam{i}": {"name": f"cam{i}", "record": i % 2 == 0} for i in range(5)}
    confs = await client.list_path_configs()
    assert confs == mtx.configs
    assert [p for _, p, _ in mtx.requests] == [
        f"/v3/config/paths/list?page={i}&itemsPerPage=2" for i in range(3)
    ]
    mtx.configs = {}
    assert await client.list_path_configs() == {}


async def test_list_tolerates_pre_v3_item_maps(make_client) -> None:
    async def old(req: web.Request) -> web.Response:
        return web.json_response({"items": {"cam0": {"ready": True}, "cam1": {}}})

    app = web.Application()
    app.router.add_get("/v3/paths/list", old)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        client = make_client(f"http://127.0.0.1:{runner.addresses[0][1]}")
        paths = await client.list_paths()
        assert paths["cam0"].available and not paths["cam1"].available
        await client.close()
    finally:
        await runner.cleanup()


# --- writes --------------------------------------------------------------------------


async def test_path_config_lifecycle(mtx: FakeMediaMtx, client: MediaMtxClient) -> None:
    await client.add_path("cams/front", {"source": "rtsp://10.0.0.5/s", "record": False})
    assert mtx.requests[-1][:2] == ("POST", "/v3/config/paths/add/cams%2Ffront")
    await client.patch_path("cams/front", {"record": True})
    assert (await client.get_path_config("cams/front"))["record"] is True
    await client.replace_path("cams/front", {"source": "publisher"})
    assert mtx.configs["cams/front"] == {"name": "cams/front", "source": "publisher"}
    await client.delete_path("cams/front")
    assert mtx.configs == {}
    with pytest.raises(MediaMtxNotFound) as e:
        await client.delete_path("cams/front")
    assert e.value.status == 404
    assert str(e.value) == (
        "DELETE /v3/config/paths/delete/cams%2Ffront: path configuration not found"
    )
    with pytest.raises(MediaMtxNotFound):
        await client.get_path_config("cams/front")
    with pytest.raises(MediaMtxNotFound):
        await client.patch_path("cams/front", {"record": True})


async def test_recordings(mtx: FakeMediaMtx, client: MediaMtxClient) -> None:
    start = "2026-11-25T10:00:00.123456+01:00"
    mtx.recordings = {"cams/front": [start, "2026-11-25T10:05:00+01:00"], "cam0": []}
    recs = await client.list_recordings()
    assert recs["cams/front"].segments[0] == start and recs["cam0"].segments == ()
    assert await client.list_recordings("cams/front") == {"cams/front": recs["cams/front"]}
    assert await client.list_recordings("absent") == {}
    await client.delete_segment("cams/front", start)  # "+" must survive the query string
    assert mtx.recordings["cams/front"] == ["2026-11-25T10:05:00+01:00"]
    with pytest.raises(MediaMtxNotFound, match="segment not found"):
        await client.delete_segment("cams/front", start)


# --- retries and errors --------------------------------------------------------------


async def test_5xx_is_retried_then_succeeds(mtx: FakeMediaMtx, client: MediaMtxClient) -> None:
    mtx.fail_next = [500, 503]
    assert (await client.info()).version == "v1.20.1"
    assert mtx.count() == 3


async def test_5xx_gives_up_after_the_retries(mtx: FakeMediaMtx, make_client) -> None:
    client = make_client(mtx.url, retries=2)
    mtx.fail_next = [500] * 5
    with pytest.raises(MediaMtxUnavailable, match="injected 500") as e:
        await client.info()
    assert e.value.status == 500 and mtx.count() == 3


async def test_4xx_is_not_retried(mtx: FakeMediaMtx, client: MediaMtxClient) -> None:
    mtx.fail_next = [400]
    with pytest.raises(MediaMtxError) as e:
        await client.patch_path("cam0", {"record": True})
    assert type(e.value) is MediaMtxError and e.value.status == 400
    assert str(e.value) == "PATCH /v3/config/paths/patch/cam0: injected 400"
    assert mtx.count() == 1


async def test_add_is_not_retried_once_sent(mtx: FakeMediaMtx, client: MediaMtxClient) -> None:
    mtx.fail_next = [500]
    with pytest.raises(MediaMtxUnavailable):
        await client.add_path("cam0", {"source": "publisher"})
    assert mtx.count() == 1
    mtx.configs["cam1"] = {"name": "cam1"}
    with pytest.raises(MediaMtxError, match="path already exists"):
        await client.add_path("cam1", {})
    assert mtx.count() == 2


async def test_refused_connection_is_retried_even_for_add(
    make_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(refused_url(), retries=2)
    attempts = 0
    request = client.http.request

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await request(*args, **kwargs)

    monkeypatch.setattr(client.http, "request", counted)
    with pytest.raises(MediaMtxUnavailable, match="connection refused") as e:
        await client.add_path("cam0", {"source": SOURCE_WITH_CREDS})
    assert e.value.status is None
    assert attempts == 3
    assert "hunter2" not in str(e.value)


async def test_timeout_is_retried(mtx: FakeMediaMtx, make_client) -> None:
    client = make_client(mtx.url, timeout=0.3)
    mtx.configs["cam0"] = {"name": "cam0"}
    mtx.fail_next = ["hang"]  # the first attempt gets no answer within the timeout
    await client.patch_path("cam0", {"record": True})
    assert mtx.configs["cam0"]["record"] is True
    assert mtx.count("PATCH") == 2


async def test_errors_never_echo_credentials(mtx: FakeMediaMtx, client: MediaMtxClient) -> None:
    # MediaMTX quoting a well-formed URL back: the userinfo is masked
    with pytest.raises(MediaMtxError) as e:
        await client.add_path("cam0", {"source": SOURCE_WITH_CREDS + "/invalid"})
    assert "hunter2" not in str(e.value) and "rtsp://***@10.0.0.5" in str(e.value)
    # ...and a malformed one, which no URL pattern would recognize
    with pytest.raises(MediaMtxError) as e:
        await client.add_path("cam0", {"source": "rtsp:/admin:hunter2@10.0.0.5"})
    assert "hunter2" not in str(e.value) and "<redacted>" in str(e.value)
    # a failure with no answer at all names the operation, never the body
    mtx.fail_next = ["hang"]
    quick = MediaMtxClient(mtx.url, 0.2, retries=0)
    try:
        with pytest.raises(MediaMtxUnavailable) as e:
            await quick.add_path("cam0", {"source": SOURCE_WITH_CREDS})
    finally:
        await quick.close()
    assert str(e.value).startswith("POST /v3/config/paths/add/cam0: no response from")
    assert "hunter2" not in str(e.value)


# --- no state between calls -------------------------------------------------------------


async def test_each_call_asks_mediamtx_afresh_so_it_is_back_at_once(
    mtx: FakeMediaMtx, make_client
) -> None:
    """The client keeps no verdict on MediaMTX's health (the controller's check does):
    a call after failures goes out, and succeeds the moment MediaMTX answers again."""
    client = make_client(mtx.url, retries=2)
    for _ in range(3):
        mtx.fail_next = [503] * 3
        with pytest.raises(MediaMtxUnavailable, match="injected 503"):
            await client.list_paths()
    assert mtx.count() == 9  # three calls, three attempts each: none cut short
    assert (await client.info()).version == "v1.20.1"  # no cool-down
    assert mtx.count() == 10


async def test_body_is_json_with_credentials_only_on_the_wire(
    mtx: FakeMediaMtx, client: MediaMtxClient
) -> None:
    await client.add_path("cam0", {"source": SOURCE_WITH_CREDS, "sourceOnDemand": True})
    _, _, body = mtx.requests[-1]
    assert body == {"source": SOURCE_WITH_CREDS, "sourceOnDemand": True}
    assert orjson.dumps(body)  # round-trips as JSON
