"""The media plane authorized through the service, end to end: real ffprobe/FFmpeg
clients against the MediaMTX double's RTSP data plane, which asks the service's
``/mediamtx/auth`` about every read and publish as MediaMTX does (authMethod http).

Camera scopes (a viewer limited to camera A refused on B) and media tokens are checked
here end to end too; every branch of the decision is in tests/unit/test_media_access.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from camera_service.api.mediaauth import auth_url
from camera_service.app import Application
from tests.conftest import make_settings, make_token
from tests.support.media_stack import LAB, MediaStack, MediaStackFactory, free_port
from tests.support.mediamtx.backends import DoubleBackend, LiveBackend, start_backend
from tests.support.processes import run

Backend = DoubleBackend | LiveBackend

pytestmark = pytest.mark.needs("ffmpeg", "ffprobe", "rtsp-server-perl")
WAIT = 60.0  # generous: other test runs share the two cores


async def probe(url: str) -> tuple[int, str]:
    """ffprobe's exit code and the codec it found (or its error)."""
    code, out, err = await run(
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-analyzeduration", "1000000",
        "-select_streams", "v", "-show_entries", "stream=codec_name", "-of", "json", url,
        timeout=WAIT,
    )  # fmt: skip
    if code != 0:
        return code, err
    streams = json.loads(out).get("streams") or [{}]
    return code, str(streams[0].get("codec_name"))


def url(stack: MediaStack, password: str | None = None, path: str = "lab") -> str:
    userinfo = f"anyone:{password}@" if password is not None else ""
    return f"rtsp://{userinfo}127.0.0.1:{stack.plane.rtsp_port}/{path}"


def token_url(stack: MediaStack, token: str, path: str = "lab") -> str:
    """A JWT goes in the query with FFmpeg: it keeps at most 127 characters of a URL's
    user:password (its ``auth[128]``), less than a JWT."""
    return f"{url(stack, path=path)}?token={token}"


def asked(stack: MediaStack, action: str) -> list[tuple[dict[str, Any], int | None]]:
    """What the data plane asked the service about ``action`` for clients other than
    the service's own (the sessions that never presented its internal credential)."""
    secret = stack.app.parts.front.media_access.internal.secret
    requests = stack.plane.auth.requests
    internal = {body["id"] for body, _ in requests if body["password"] == secret}
    return [
        (body, status)
        for body, status in requests
        if body["action"] == action and body["id"] not in internal
    ]


def asked_internal(stack: MediaStack, action: str) -> list[tuple[dict[str, Any], int | None]]:
    secret = stack.app.parts.front.media_access.internal.secret
    return [
        (body, status)
        for body, status in stack.plane.auth.requests
        if body["action"] == action and body["password"] == secret
    ]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_anonymous_read_is_challenged_and_refused(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    code, err = await probe(url(stack))
    assert code != 0, "an anonymous reader got the stream"
    assert "401" in err or "Unauthorized" in err, err
    reads = asked(stack, "read")
    assert reads, "the data plane never asked the service"
    body, _ = reads[0]
    # MediaMTX's documented body; no credentials: the service asks for them.
    assert set(body) == {"ip", "user", "password", "token", "action", "path", "protocol",
                         "id", "query"}  # fmt: skip
    assert (body["user"], body["password"], body["path"], body["protocol"]) == (
        "",
        "",
        "lab",
        "rtsp",
    )
    assert {status for _, status in reads} == {401}
    assert all(not (b["user"] or b["password"] or b["token"]) for b, _ in reads)


async def test_viewer_token_reads(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    token = make_token("viewer")
    # The query parameter browsers put on HLS/WHEP URLs; MediaMTX passes it as "query".
    assert await probe(token_url(stack, token)) == (0, "h264")
    assert await probe(url(stack) + f"?jwt={token}") == (0, "h264")  # its former name
    # The service's own publisher was authorized by the service too (action publish).
    publishes = asked_internal(stack, "publish")
    assert publishes and all(body["path"] == "lab" for body, _ in publishes)
    assert {status for _, status in publishes} == {200}
    assert {body["user"] for body, _ in publishes} == {"camera-service"}
    metrics = stack.app.metrics.render()
    line = 'camera_service_media_auth_decisions_total{outcome="allowed",action="read"'
    assert line in metrics


async def test_bad_tokens_are_refused(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    good = make_token("viewer")
    header, payload, signature = good.split(".")
    now = time.time()
    claims = {"user_id": "tester", "role": "admin", "iat": now, "exp": now + 600}
    bad = {
        "expired": make_token("viewer", ttl=-10),
        "forged signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
        "another secret": jwt.encode(claims, "not-the-service-secret-" * 2, algorithm="HS256"),
        "garbage": "not-a-credential",
    }
    results = await asyncio.gather(*(probe(token_url(stack, token)) for token in bad.values()))
    for (what, _), (code, _) in zip(bad.items(), results, strict=True):
        assert code != 0, f"{what} token read the stream"
    refused = [status for body, status in asked(stack, "read") if body["query"]]
    assert refused and set(refused) == {403}
    # As a password (no length limit in RTSP itself, only in FFmpeg): refused too.
    assert (await probe(url(stack, bad["garbage"])))[0] != 0


async def test_revoked_api_key_is_refused_on_its_next_read(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    app: Application = stack.app
    keys, db = app.parts.store.keys, app.parts.db
    key, record = await db.run(keys.create, "viewer-key", "viewer", None)
    assert await probe(url(stack, key)) == (0, "h264")
    assert await db.run(keys.revoke, record.key_id)
    # At once, well inside the cache's 5 s: the cache hit re-checks revocation.
    code, _ = await probe(url(stack, key))
    assert code != 0, "a revoked key read the stream"
    assert asked(stack, "read")[-1][1] == 403


async def test_viewer_cannot_publish(media_stack: MediaStackFactory) -> None:
    stack = await media_stack()
    await stack.path_ready()
    for role in ("viewer", "admin"):
        code, _, _ = await run(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
            "-i", "testsrc2=size=320x240:rate=10", "-t", "2", "-c:v", "libx264",
            "-preset", "ultrafast", "-f", "rtsp", "-rtsp_transport", "tcp",
            token_url(stack, make_token(role)), timeout=WAIT,
        )  # fmt: skip
        assert code != 0, f"a {role} published into lab"
    refused = [status for body, status in asked(stack, "publish") if body["query"]]
    assert len(refused) >= 2 and set(refused) == {403}


async def test_internal_credential_is_never_logged(
    media_stack: MediaStackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stack = await media_stack()
    await stack.path_ready()
    client = await stack.client("operator")
    msg = {"jsonrpc": "2.0", "method": "take_snapshot", "params": {"device": "lab"}, "id": 1}
    reply = await client.send_raw(json.dumps(msg), 1, WAIT)
    assert reply["result"]["status"] == "completed", reply
    secret = stack.app.parts.front.media_access.internal.secret
    assert {status for _, status in asked_internal(stack, "read")} == {200}
    # The service's own log lines (the double's are MediaMTX's, which prints commands).
    ours = [r for r in caplog.records if r.name.startswith("camera_service")]
    assert ours
    leaked = [r for r in ours if secret in r.getMessage() or secret in str(r.__dict__)]
    assert not leaked, [r.getMessage() for r in leaked]


# -- the same checks against a real MediaMTX where MEDIAMTX_BIN is set ---------------------


@pytest.fixture
async def authorized(tmp_path: Path) -> AsyncIterator[tuple[Application, Backend]]:
    """The service and a MediaMTX (the double, or MEDIAMTX_BIN) that asks it about every
    publish and read, with the test-pattern camera ``lab``."""
    health = free_port()
    work = tmp_path / "mediamtx"
    work.mkdir()
    backend = await start_backend(work, auth_address=auth_url("127.0.0.1", health))
    app: Application | None = None
    try:
        settings = make_settings(
            tmp_path,
            mediamtx={"api_url": backend.api_url, "rtsp_port": backend.rtsp_port,
                      "check_interval": 0.1, "request_timeout": 2.0},
            cameras={"sources": [LAB], "poll_interval": 30.0},
            health={"port": health},
        )  # fmt: skip
        app = Application(settings)
        await app.start()
        media = app.media
        await media.wait_until(lambda: "lab" in media.owned, 10)
        yield app, backend
    finally:
        if app is not None:
            await app.stop()
        await backend.close()


def live_url(backend: Backend, password: str | None = None, token: str | None = None) -> str:
    userinfo = f"anyone:{password}@" if password is not None else ""
    query = f"?token={token}" if token is not None else ""
    return f"rtsp://{userinfo}127.0.0.1:{backend.rtsp_port}/lab{query}"


@pytest.mark.live_mediamtx
async def test_live_mediamtx_reads_only_with_a_good_credential(
    authorized: tuple[Application, Backend],
) -> None:
    app, backend = authorized
    assert (await probe(live_url(backend)))[0] != 0  # anonymous
    assert await probe(live_url(backend, token=make_token("viewer"))) == (0, "h264")
    keys, db = app.parts.store.keys, app.parts.db
    key, record = await db.run(keys.create, "live-viewer", "viewer", None)
    assert await probe(live_url(backend, password=key)) == (0, "h264")
    assert await db.run(keys.revoke, record.key_id)
    now = time.time()
    claims = {"user_id": "tester", "role": "admin", "iat": now, "exp": now + 600}
    bad = [
        make_token("viewer", ttl=-10),
        make_token("viewer")[:-4] + "AAAA",
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
        jwt.encode(claims, "not-the-service-secret-" * 2, algorithm="HS256"),
    ]
    probes = [probe(live_url(backend, password=key))]  # the revoked key
    probes += [probe(live_url(backend, token=token)) for token in bad]
    for code, _ in await asyncio.gather(*probes):
        assert code != 0


@pytest.mark.live_mediamtx
async def test_live_mediamtx_lets_only_the_service_publish(
    authorized: tuple[Application, Backend],
) -> None:
    _, backend = authorized
    code, _, _ = await run(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
        "-i", "testsrc2=size=320x240:rate=10", "-t", "2", "-c:v", "libx264",
        "-preset", "ultrafast", "-f", "rtsp", "-rtsp_transport", "tcp",
        live_url(backend, token=make_token("admin")), timeout=WAIT,
    )  # fmt: skip
    assert code != 0, "an admin's token published into lab"
    # The service's own on-demand publisher still brings lab up for a viewer.
    assert await probe(live_url(backend, token=make_token("viewer"))) == (0, "h264")


async def test_a_mediamtx_elsewhere_gets_this_runs_auth_url_through_its_api(
    media_stack: MediaStackFactory,
) -> None:
    # MediaMTX starts open (its file config is not the service's); mediamtx.auth_host
    # makes the service hand it authMethod http and the run's secret URL at every connect.
    stack = await media_stack(media_auth=False, mediamtx={"auth_host": "127.0.0.1"})
    await stack.path_ready()
    mtx, app = stack.mtx, stack.app

    def pushed() -> bool:
        return mtx.global_conf.get("authMethod") == "http"

    await app.media.wait_until(pushed, 10)
    address = mtx.global_conf["authHTTPAddress"]
    assert address.startswith(f"http://127.0.0.1:{app.health_port}/mediamtx/auth?secret=")
    assert "authInternalUsers" not in mtx.global_conf  # the operator's, left alone
    assert (await probe(url(stack)))[0] != 0
    assert await probe(token_url(stack, make_token("viewer"))) == (0, "h264")
    # A MediaMTX restart forgets API-made settings; the service gives them again.
    await mtx.restart()
    assert not pushed()
    await app.media.wait_until(pushed, 10)
    assert mtx.global_conf["authHTTPAddress"] == address


YARD = {**LAB, "id": "yard"}


async def test_a_viewer_limited_to_one_camera_is_refused_on_another(
    media_stack: MediaStackFactory,
) -> None:
    stack = await media_stack(cameras={"sources": [LAB, YARD]})
    await stack.path_ready("lab")
    await stack.path_ready("yard")
    limited = make_token("viewer", cameras=["lab"])
    assert await probe(token_url(stack, limited, "lab")) == (0, "h264")
    assert (await probe(token_url(stack, limited, "yard")))[0] != 0
    refused = [status for body, status in asked(stack, "read") if body["path"] == "yard"]
    assert refused and set(refused) == {403}
    # An API key limited the same way, as the RTSP password.
    keys, db = stack.app.parts.store.keys, stack.app.parts.db
    key, _ = await db.run(lambda: keys.create("lab-only", "viewer", None, cameras=["lab"]))
    assert await probe(url(stack, key, "lab")) == (0, "h264")
    assert (await probe(url(stack, key, "yard")))[0] != 0


async def test_a_media_token_reads_its_camera_only(media_stack: MediaStackFactory) -> None:
    stack = await media_stack(cameras={"sources": [LAB, YARD]})
    await stack.path_ready("lab")
    client = await stack.client("viewer")
    result = await client.call("create_media_token", {"camera_id": "lab"})
    token = result["token"]
    # The RTSP URL it comes with plays in FFmpeg (whose user:password stops at 127
    # characters: the token rides in the query, as MediaMTX's docs have it for RTSP).
    assert await probe(result["streams"]["rtsp"]) == (0, "h264")
    assert await probe(token_url(stack, token, "lab")) == (0, "h264")
    assert await probe(f"{url(stack, path='lab')}?jwt={token}") == (0, "h264")  # as in its URLs
    assert (await probe(token_url(stack, token, "yard")))[0] != 0
    code, _, _ = await run(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi",
        "-i", "testsrc2=size=320x240:rate=10", "-t", "2", "-c:v", "libx264",
        "-preset", "ultrafast", "-f", "rtsp", "-rtsp_transport", "tcp",
        token_url(stack, token, "lab"), timeout=WAIT,
    )  # fmt: skip
    assert code != 0, "a media token published"
