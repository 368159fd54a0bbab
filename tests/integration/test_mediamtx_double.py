"""Tests of the MediaMTX Control API double itself (tests/support/mediamtx)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.mediamtx import ApiCall, ContractViolation, MediaMtxDouble, Validator
from tests.support.mediamtx.double import (
    check_path_name,
    common_path,
    decode_segment_path,
    encode_segment_path,
    format_mediamtx_duration,
    parse_go_duration,
)

if TYPE_CHECKING:
    # Imported at run time only through pytest_plugins, so pytest can rewrite its asserts.
    from tests.support.mediamtx.fixtures import MediaMtxFactory

pytest_plugins = ("tests.support.mediamtx.fixtures",)

USB_PATH = {
    "runOnDemand": "ffmpeg -f v4l2 -i /dev/video0 -f rtsp rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH",
    "runOnDemandRestart": True,
    "recordPath": "./recordings/%path_%Y-%m-%d_%H-%M-%S-%f",
    "recordSegmentDuration": "60s",
}


@pytest.fixture
async def mtx(mediamtx_factory: MediaMtxFactory, tmp_path: Path) -> MediaMtxDouble:
    return await mediamtx_factory(work_dir=tmp_path)


@pytest.fixture
async def http(mtx: MediaMtxDouble) -> AsyncIterator[aiohttp.ClientSession]:
    # force_close: no pooled connection survives a restart of the double.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(mtx.api_url, connector=connector) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, **kw: Any
) -> tuple[int, Any]:
    async with http.request(method, url, json=body, **kw) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def test_add_get_list_patch_delete_round_trip(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    assert await call(http, "POST", "/v3/config/paths/add/cam0", USB_PATH) == (
        200,
        {"status": "ok"},
    )
    assert (await call(http, "POST", "/v3/config/paths/add/hub/cam1", {}))[0] == 200

    status, conf = await call(http, "GET", "/v3/config/paths/get/cam0")
    assert status == 200
    assert conf["name"] == "cam0"
    assert conf["runOnDemand"] == USB_PATH["runOnDemand"]
    assert conf["record"] is False  # default from mediamtx.yml
    assert conf["source"] == "publisher"
    assert conf["recordSegmentDuration"] == "1m0s"  # Go's Duration.String()
    assert conf["recordDeleteAfter"] == "1d"

    status, listing = await call(http, "GET", "/v3/config/paths/list", params={"itemsPerPage": "1"})
    assert status == 200
    assert (listing["itemCount"], listing["pageCount"]) == (2, 2)
    assert [i["name"] for i in listing["items"]] == ["cam0"]
    _, page2 = await call(
        http, "GET", "/v3/config/paths/list", params={"itemsPerPage": "1", "page": "1"}
    )
    assert [i["name"] for i in page2["items"]] == ["hub/cam1"]

    # Toggling record merges: everything else stays.
    assert (await call(http, "PATCH", "/v3/config/paths/patch/cam0", {"record": True}))[0] == 200
    _, conf = await call(http, "GET", "/v3/config/paths/get/cam0")
    assert conf["record"] is True
    assert conf["runOnDemand"] == USB_PATH["runOnDemand"]

    status, runtime = await call(http, "GET", "/v3/paths/get/cam0")
    assert status == 200
    assert runtime["available"] is False and runtime["ready"] is False
    assert runtime["readers"] == [] and runtime["source"] is None

    assert (await call(http, "DELETE", "/v3/config/paths/delete/cam0"))[0] == 200
    assert await call(http, "GET", "/v3/config/paths/get/cam0") == (
        404,
        {"status": "error", "error": "path configuration not found"},
    )
    assert (await call(http, "GET", "/v3/paths/get/cam0"))[0] == 404
    assert (await call(http, "PATCH", "/v3/config/paths/patch/cam0", {}))[0] == 404
    assert (await call(http, "DELETE", "/v3/config/paths/delete/cam0"))[0] == 404

    # Replace overwrites the whole configuration (and creates a missing one).
    await call(http, "PATCH", "/v3/config/paths/patch/hub/cam1", {"maxReaders": 5})
    status, _ = await call(http, "POST", "/v3/config/paths/replace/hub/cam1", {"record": True})
    assert status == 200
    replaced = mtx.path_conf("hub/cam1") or {}
    assert (replaced["record"], replaced["maxReaders"]) == (True, 0)
    assert mtx.path_names() == ["hub/cam1"]
    assert [(r.method, r.path) for r in mtx.requests][:2] == [
        ("POST", "/v3/config/paths/add/cam0"),
        ("POST", "/v3/config/paths/add/hub/cam1"),
    ]
    assert mtx.requests[0].body == USB_PATH


async def test_duplicate_add_is_400(http: aiohttp.ClientSession) -> None:
    assert (await call(http, "POST", "/v3/config/paths/add/cam0", {}))[0] == 200
    assert await call(http, "POST", "/v3/config/paths/add/cam0", {}) == (
        400,
        {"status": "error", "error": "path already exists"},
    )


async def test_unknown_pathconf_field_is_400_and_a_violation(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    status, body = await call(
        http, "POST", "/v3/config/paths/add/cam0", {"record": True, "recordEnabled": True}
    )
    assert (status, body) == (
        400,
        {"status": "error", "error": 'json: unknown field "recordEnabled"'},
    )
    assert mtx.path_names() == []
    [violation] = mtx.take_violations()
    assert violation.direction == "request"
    assert violation.operation is not None
    assert violation.operation.operation_id == "configPathsAdd"
    assert '"recordEnabled"' in violation.message and "PathConf" in violation.message


async def test_wrong_types_and_invalid_configs_are_refused(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    status, _ = await call(http, "POST", "/v3/config/paths/add/cam0", {"record": "yes"})
    assert status == 400
    [violation] = mtx.take_violations()
    assert "$.record" in violation.message

    # Valid per the spec, refused by MediaMTX's own validation: not a contract violation.
    cases = {
        "bad name!": ({}, "invalid path name 'bad name!'"),
        "a..b": ({}, "can't contain '..'"),
        "cam1": ({"source": "rtsp://cam", "runOnDemand": "x"}, "'runOnDemand' and"),
        "cam2": ({"recordPath": "/rec/%Y"}, "'recordPath' must contain %path"),
        "cam3": ({"recordSegmentDuration": "1 hour"}, 'time: invalid duration "1 hour"'),
        "cam4": ({"source": "ftp://x"}, "invalid source: 'ftp://x'"),
    }
    for name, (conf, message) in cases.items():
        status, body = await call(http, "POST", f"/v3/config/paths/add/{name}", conf)
        assert status == 400, name
        assert message in body["error"], (name, body)
    assert mtx.path_names() == []
    assert mtx.violations == []


async def test_restart_forgets_api_paths_keeps_port_and_changes_start_time(
    mediamtx_factory: MediaMtxFactory, tmp_path: Path
) -> None:
    mtx = await mediamtx_factory(work_dir=tmp_path, static_paths={"static": {"record": True}})
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(mtx.api_url, connector=connector) as http:
        _, info_before = await call(http, "GET", "/v3/info")
        assert info_before["version"] == "v1.20.1"
        await call(http, "POST", "/v3/config/paths/add/cam0", {})
        await call(http, "PATCH", "/v3/config/paths/patch/static", {"record": False})
        port = mtx.port

        await mtx.restart()

        assert mtx.port == port
        _, info_after = await call(http, "GET", "/v3/info")
        assert info_after["started"] != info_before["started"]
        _, listing = await call(http, "GET", "/v3/config/paths/list")
        assert [i["name"] for i in listing["items"]] == ["static"]
        assert listing["items"][0]["record"] is True  # the RAM patch is gone too


async def test_fail_next_answers_500_with_a_spec_error_body(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    mtx.fail_next(2)
    for _ in range(2):
        status, body = await call(http, "POST", "/v3/config/paths/add/cam0", {})
        assert status == 500
        assert body["status"] == "error" and isinstance(body["error"], str)
    assert mtx.path_names() == []  # a failed request changes nothing
    assert (await call(http, "POST", "/v3/config/paths/add/cam0", {}))[0] == 200

    # The injected body is an Error as the spec defines it; an undeclared status is allowed
    # for injected faults (a proxy may answer 503) but the body is still checked.
    mtx.fail_next(1, status=503, error="upstream down")
    assert await call(http, "GET", "/v3/info") == (
        503,
        {"status": "error", "error": "upstream down"},
    )
    assert mtx.violations == []


async def test_hang_makes_the_client_time_out_then_recovers(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    mtx.hang(True)
    with pytest.raises(TimeoutError):
        await call(http, "GET", "/v3/info", timeout=aiohttp.ClientTimeout(total=0.2))
    mtx.hang(False)
    assert (await call(http, "GET", "/v3/info"))[0] == 200


async def test_hung_request_is_released_by_unhang_and_dropped_by_stop(
    mediamtx_factory: MediaMtxFactory,
) -> None:
    mtx = await mediamtx_factory()
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(mtx.api_url, connector=connector) as http:
        mtx.hang()
        pending = asyncio.create_task(call(http, "GET", "/v3/info"))
        await mtx.wait_for_request(lambda r: r.path == "/v3/info")
        assert not pending.done()
        mtx.hang(False)
        assert (await pending)[0] == 200

        mtx.hang()
        # POST: aiohttp retries an idempotent request once after a disconnect.
        pending = asyncio.create_task(call(http, "POST", "/v3/config/paths/add/cam0", {}))
        await mtx.wait_for_request(lambda r: r.path == "/v3/config/paths/add/cam0")
        await mtx.stop()  # must not wait for the hung request, nor leak it
        assert mtx.hung_requests == 0
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await pending
        assert mtx.path_names() == []


async def test_stopped_refuses_connections_then_serves_on_the_same_port(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    await call(http, "POST", "/v3/config/paths/add/cam0", {})
    port = mtx.port
    async with mtx.stopped():
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await call(http, "GET", "/v3/info")
        assert isinstance(refused.value.os_error, ConnectionRefusedError)
    assert mtx.port == port
    assert (await call(http, "GET", "/v3/info"))[0] == 200
    assert mtx.path_names() == []  # MediaMTX came back as a new process

    await call(http, "POST", "/v3/config/paths/add/cam0", {})
    async with mtx.stopped(lose_state=False):
        pass
    assert mtx.path_names() == ["cam0"]


async def test_response_validation_catches_a_broken_handler(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_info(call: ApiCall) -> web.Response:
        return web.json_response({"version": 1, "started": "now", "uptime": 3})

    monkeypatch.setitem(mtx.handlers, "info", broken_info)
    assert (await call(http, "GET", "/v3/info"))[0] == 200
    [violation] = mtx.take_violations()
    assert violation.direction == "response"
    assert "$.version: 1 is not of type 'string'" in violation.message
    assert '"uptime"' in violation.message

    async def undeclared_status(call: ApiCall) -> web.Response:
        return web.json_response({"status": "error", "error": "x"}, status=404)

    monkeypatch.setitem(mtx.handlers, "info", undeclared_status)
    await call(http, "GET", "/v3/info")
    [violation] = mtx.take_violations()
    assert "status 404 is not declared" in violation.message


async def test_unknown_route_is_a_violation(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession
) -> None:
    assert await call(http, "GET", "/v3/config/paths/lst") == (404, "404 page not found")
    assert await call(http, "GET", "/v3/config/paths/add/cam0") == (404, "404 page not found")
    violations = mtx.take_violations()
    assert [v.status for v in violations] == [404, 404]
    assert "no such path" in violations[0].message
    assert "method not declared" in violations[1].message


class FakeDataPlane:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.confs: dict[str, dict[str, Any]] = {}
        self.live: dict[str, dict[str, Any]] = {}

    def path_configured(self, name: str, conf: dict[str, Any]) -> None:
        self.calls.append(("configured", name))
        self.confs[name] = conf

    async def path_removed(self, name: str) -> None:
        self.calls.append(("removed", name))

    def path_state(self, name: str) -> dict[str, Any] | None:
        return self.live.get(name)


async def test_data_plane_hooks(mtx: MediaMtxDouble, http: aiohttp.ClientSession) -> None:
    plane = FakeDataPlane()
    mtx.data_plane = plane
    await call(http, "POST", "/v3/config/paths/add/cam0", USB_PATH)
    await call(http, "PATCH", "/v3/config/paths/patch/cam0", {"record": True})
    assert plane.confs["cam0"] == mtx.path_conf("cam0")
    assert plane.confs["cam0"]["record"] is True

    since = datetime(2025, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    plane.live["cam0"] = {
        "ready": True,  # old field name only: the double mirrors it to `available`
        "readyTime": since,
        "source": {"type": "rtspSession", "id": "s1"},
        "tracks2": [{"codec": "H264", "codecProps": {"width": 640, "height": 480}}],
        "bytesReceived": 1000,
        "readers": [{"type": "webRTCSession", "id": "r1"}],
    }
    status, path = await call(http, "GET", "/v3/paths/get/cam0")
    assert status == 200
    assert path["available"] is True and path["ready"] is True and path["online"] is True
    assert path["availableTime"] == path["readyTime"] == "2025-01-02T03:04:05.12Z"
    assert path["tracks"] == ["H264"] and path["inboundBytes"] == 1000
    _, listing = await call(http, "GET", "/v3/paths/list")
    assert listing["items"] == [path]

    await call(http, "DELETE", "/v3/config/paths/delete/cam0")
    await call(http, "POST", "/v3/config/paths/add/cam1", {})
    await mtx.restart()
    assert plane.calls == [
        ("configured", "cam0"),
        ("configured", "cam0"),
        ("removed", "cam0"),
        ("configured", "cam1"),
        ("removed", "cam1"),
    ]

    await call(http, "POST", "/v3/config/paths/add/cam0", {})
    plane.live["cam0"] = {"ready": True, "tracks": ["H264"]}  # old names only
    _, path = await call(http, "GET", "/v3/paths/get/cam0")
    assert path["tracks2"] == [{"codec": "H264", "codecProps": None}]
    assert path["availableTime"] is not None

    plane.live["cam0"] = {"available": True, "tracks": "not a list"}
    await call(http, "GET", "/v3/paths/get/cam0")
    [violation] = mtx.take_violations()  # a bad data plane answer is caught too
    assert violation.direction == "response" and "$.tracks" in violation.message


async def test_recordings_list_get_and_delete(
    mtx: MediaMtxDouble, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await call(http, "POST", "/v3/config/paths/add/cam0", USB_PATH)
    await call(http, "POST", "/v3/config/paths/add/cam1", USB_PATH)
    with pytest.raises(RuntimeError, match="record off"):
        mtx.write_segment("cam0")
    await call(http, "PATCH", "/v3/config/paths/patch/cam0", {"record": True})
    first = datetime(2025, 5, 1, 10, 0, 0, 250000).astimezone()
    second = datetime(2025, 5, 1, 10, 1, 0).astimezone()
    written = [mtx.write_segment("cam0", second), mtx.write_segment("cam0", first)]
    assert written[1] == tmp_path / "recordings" / "cam0_2025-05-01_10-00-00-250000.mp4"
    (tmp_path / "recordings" / "notes.txt").write_text("not a segment")

    _, listing = await call(http, "GET", "/v3/recordings/list")
    assert listing["itemCount"] == 1
    [item] = listing["items"]
    assert item["name"] == "cam0"
    assert [s["start"] for s in item["segments"]] == [
        "2025-05-01T10:00:00.25" + _zone(first),
        "2025-05-01T10:01:00" + _zone(second),
    ]
    assert await call(http, "GET", "/v3/recordings/get/cam1") == (
        200,
        {"name": "cam1", "segments": []},
    )
    assert (await call(http, "GET", "/v3/recordings/get/nope"))[1]["error"] == (
        "path 'nope' is not configured"
    )

    start = item["segments"][0]["start"]
    params = {"path": "cam0", "start": start}
    assert (await call(http, "DELETE", "/v3/recordings/deletesegment", params=params))[0] == 200
    assert not written[1].exists() and written[0].exists()
    status, body = await call(http, "DELETE", "/v3/recordings/deletesegment", params=params)
    assert status == 400 and "no such file or directory" in body["error"]


def _zone(dt: datetime) -> str:
    text = dt.strftime("%z")
    return "Z" if text in ("+0000", "") else f"{text[:3]}:{text[3:]}"


def test_go_durations_and_segment_paths() -> None:
    assert check_path_name("a/../b") == "can't contain '..'"
    assert check_path_name("cams/front_door-1.main~x") is None
    assert parse_go_duration("1h30m") == 5_400_000_000_000
    assert parse_go_duration("1d2h") == (26 * 3600) * 10**9
    assert parse_go_duration("") == 0
    assert format_mediamtx_duration(parse_go_duration("90s")) == "1m30s"
    assert format_mediamtx_duration(parse_go_duration("1.5s")) == "1.5s"
    assert format_mediamtx_duration(parse_go_duration("250ms")) == "250ms"
    assert format_mediamtx_duration(parse_go_duration("48h")) == "2d"
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration("10")

    fmt = "/rec/%path/%Y-%m-%d_%H-%M-%S-%f.mp4"
    start = datetime(2024, 2, 3, 4, 5, 6, 7, tzinfo=UTC).astimezone()
    encoded = encode_segment_path(fmt.replace("%path", "a/b"), "a/b", start)
    assert common_path(fmt) == "/rec"
    assert decode_segment_path(fmt, encoded) == ("a/b", start)


def test_validator_converts_openapi_constructs() -> None:
    validator = Validator()
    path_schema = {"$ref": "#/components/schemas/Path"}
    # nullable + allOf ($ref) and oneOf with overlapping shapes (H264/H265 props).
    good = {
        "source": None,
        "readyTime": None,
        "tracks2": [{"codec": "H264", "codecProps": {"width": 1, "height": 2, "level": "4"}}],
    }
    assert validator.schema_errors(good, path_schema) == []
    bad = {"source": {"type": "rtspSession", "extra": 1}}
    [(message, _)] = validator.schema_errors(bad, path_schema)
    assert "$.source" in message and '"extra"' in message
    # format: uint64 is ignored, the type is not.
    assert validator.schema_errors({"bytesReceived": 2**70}, path_schema) == []
    assert validator.schema_errors({"bytesReceived": "1"}, path_schema) != []
    assert "record" in validator.property_names("PathConf")

    op, params = validator.match("PATCH", "/v3/config/paths/patch/a/b")
    assert (op.operation_id, params) == ("configPathsPatch", {"name": "a/b"})
    with pytest.raises(ContractViolation, match="missing required query parameter 'start'"):
        validator.validate_request("DELETE", "/v3/recordings/deletesegment", {"path": "x"}, b"")


async def test_plain_context_manager_and_assert_no_violations() -> None:
    from tests.support.mediamtx.fixtures import assert_no_violations

    async with MediaMtxDouble() as mtx:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{mtx.api_url}/v3/info") as resp:
                assert resp.status == 200
            async with http.get(f"{mtx.api_url}/v3/bogus"):
                pass
        with pytest.raises(AssertionError, match="/v3/bogus"):
            assert_no_violations(mtx)
    assert not mtx.running


async def test_mediamtx_fixture(mediamtx: MediaMtxDouble) -> None:
    assert mediamtx.running and mediamtx.api_url.startswith("http://127.0.0.1:")
