"""Download links (``create_download_url``) against the real service: a link opens its
one file (whole, by Range, HEAD) on both ports, and nothing else: not another file, not
after it expires, not the control API, not MediaMTX; it never outlives the credential
it came from, and neither logs nor the audit trail hold it."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from camera_service.api.session import FILE_LINK_REFUSED
from tests.conftest import make_token
from tests.integration.test_downloads import PORTS, Media, Stack, fetch, media, stack
from tests.rpc import RpcClient

__all__ = ["media", "stack"]  # fixtures


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[RpcClient]:
    c = await RpcClient.connect(f"ws://127.0.0.1:{stack.app.ws_port}/ws")
    try:
        yield c
    finally:
        await c.close()


async def signed_in(c: RpcClient, token: str) -> RpcClient:
    assert (await c.call("authenticate", {"auth_token": token}))["authenticated"] is True
    return c


async def link(c: RpcClient, kind: str, filename: str, **more: Any) -> dict[str, Any]:
    result: dict[str, Any] = await c.call(
        "create_download_url", {"kind": kind, "filename": filename, **more}
    )
    return result


def token_of(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["token"]
    return token


async def test_a_link_opens_its_file_whole_by_range_and_head_on_both_ports(
    stack: Stack, media: Media, client: RpcClient
) -> None:
    credential = make_token("viewer")
    await signed_in(client, credential)
    got = await link(client, "recording", stack.clip)
    assert got["kind"] == "recording" and got["filename"] == stack.clip
    url = got["url"]
    assert url.startswith(f"/files/recordings/{stack.clip}?token=")
    assert credential not in url  # only the link's own token
    assert set(parse_qs(urlsplit(url).query)) == {"token"}
    for which in PORTS:
        port = stack.port(which)
        whole = await fetch(port, url)
        assert (whole.status, whole.body) == (200, media.mp4)
        assert whole.headers["content-disposition"] == f'attachment; filename="{stack.clip}"'
        part = await fetch(port, url, {"Range": "bytes=1000-1999"})
        assert part.status == 206
        assert part.body == media.mp4[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(media.mp4)}"
        tail = await fetch(port, url, {"Range": "bytes=-100"})
        assert (tail.status, tail.body) == (206, media.mp4[-100:])
        head = await fetch(port, url, method="HEAD")
        assert head.status == 200 and head.headers["content-length"] == str(len(media.mp4))
    snap = await link(client, "snapshot", stack.frame)
    reply = await fetch(stack.port("health"), snap["url"])
    assert (reply.status, reply.body) == (200, media.png)


async def test_a_link_for_one_file_is_refused_on_every_other(
    stack: Stack, media: Media, client: RpcClient
) -> None:
    await signed_in(client, make_token("admin"))
    (stack.app.paths.recordings / "lab_2025-01-15_14-31-00.mp4").write_bytes(media.mp4)
    token = token_of((await link(client, "recording", stack.clip))["url"])
    for target in (
        "/files/recordings/lab_2025-01-15_14-31-00.mp4",
        f"/files/snapshots/{stack.clip}",  # the same name in the other kind
        f"/files/snapshots/{stack.frame}",
    ):
        for which in PORTS:
            reply = await fetch(stack.port(which), f"{target}?token={token}")
            assert reply.status == 403, (target, reply.status)
            assert reply.json() == {
                "error": "this link is for another file",
                "reason": "wrong_file",
            }
            assert 'error="insufficient_scope"' in reply.headers["www-authenticate"]
            assert token not in reply.body.decode()
            by_header = await fetch(stack.port(which), target, {"Authorization": f"Bearer {token}"})
            assert by_header.status == 403


async def test_an_expired_link_is_refused(stack: Stack, client: RpcClient) -> None:
    # What the service mints, signed by its secret, past its exp.
    expired = make_token("viewer", ttl=-5, cameras=[], file=f"recordings/{stack.clip}")
    for which in PORTS:
        reply = await fetch(stack.port(which), f"/files/recordings/{stack.clip}?token={expired}")
        assert reply.status == 401
        assert reply.json()["reason"] == "expired"


async def test_a_link_never_outlives_the_credential_it_came_from(
    stack: Stack, client: RpcClient
) -> None:
    credential = make_token("viewer", ttl=30)
    await signed_in(client, credential)
    got = await link(client, "recording", stack.clip, ttl_seconds=600)
    expires = datetime.fromisoformat(got["expires_at"]).timestamp()
    assert expires <= time.time() + 30
    fresh = await link(client, "recording", stack.clip)  # the default: five minutes
    assert expires <= datetime.fromisoformat(fresh["expires_at"]).timestamp() <= time.time() + 30


async def test_the_control_api_and_mediamtx_refuse_a_link(stack: Stack, client: RpcClient) -> None:
    await signed_in(client, make_token("admin"))
    token = token_of((await link(client, "recording", stack.clip))["url"])
    other = await RpcClient.connect(f"ws://127.0.0.1:{stack.app.ws_port}/ws")
    try:
        for method, params in (
            ("authenticate", {"auth_token": token}),
            ("list_recordings", {"auth_token": token}),
            ("create_download_url", {"kind": "recording", "filename": stack.clip, "token": token}),
        ):
            reply = await other.request(method, params)
            assert reply["error"]["code"] == -32001, (method, reply)
            assert reply["error"]["message"] == FILE_LINK_REFUSED
    finally:
        await other.close()
    async with aiohttp.ClientSession() as session:
        body = {
            "action": "read",
            "path": "lab",
            "protocol": "hls",
            "token": token,
            "ip": "127.0.0.1",
        }
        async with session.post(
            f"http://127.0.0.1:{stack.app.health_port}/mediamtx/auth", json=body
        ) as r:
            assert r.status == 403


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"kind": "recording", "filename": "lab_2025-01-15_14-59-00.mp4"}, -1005, None),
        ({"kind": "snapshot", "filename": "lab_2025-01-15_14-30-00.mp4"}, -1005, None),
        ({"kind": "recording", "filename": "../secret.txt"}, -32602, "filename"),
        ({"kind": "recordings", "filename": "lab_2025-01-15_14-30-00.mp4"}, -32602, "kind"),
        ({"filename": "lab_2025-01-15_14-30-00.mp4"}, -32602, "kind"),
        (
            {"kind": "recording", "filename": "lab_2025-01-15_14-30-00.mp4", "ttl_seconds": 901},
            -32602,
            "ttl_seconds",
        ),
        (
            {"kind": "recording", "filename": "lab_2025-01-15_14-30-00.mp4", "ttl_seconds": 0},
            -32602,
            "ttl_seconds",
        ),
    ],
)
async def test_bad_requests_for_a_link(
    stack: Stack, client: RpcClient, params: dict[str, Any], code: int, param: str | None
) -> None:
    await signed_in(client, make_token("viewer"))
    reply = await client.request("create_download_url", params)
    assert reply["error"]["code"] == code, reply
    if param is not None:
        assert reply["error"]["data"]["param"] == param


async def test_a_camera_outside_the_scope_has_no_link(stack: Stack, client: RpcClient) -> None:
    await signed_in(client, make_token("viewer", cameras=["yard"]))
    reply = await client.request(
        "create_download_url", {"kind": "recording", "filename": stack.clip}
    )
    assert reply["error"]["code"] == -1005


async def test_neither_logs_nor_the_audit_trail_hold_a_link(
    stack: Stack, client: RpcClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await signed_in(client, make_token("viewer"))
    token = token_of((await link(client, "recording", stack.clip))["url"])
    expired = make_token("viewer", ttl=-5, cameras=[], file=f"recordings/{stack.clip}")
    port = stack.port("health")
    await fetch(port, f"/files/recordings/{stack.clip}?token={token}")
    await fetch(port, f"/files/snapshots/{stack.frame}?token={token}")
    await fetch(port, f"/files/recordings/{stack.clip}?token={expired}")
    await fetch(port, f"/files/recordings/{stack.clip}?token={expired[:-3]}abc")
    app = stack.app
    await app.parts.store.audit.flush()
    rows = app.parts.db.database.query("SELECT event, actor, detail FROM audit_log")
    assert rows  # the refused ones are audited...
    for text in [str(r) for r in rows] + [str(vars(r)) for r in caplog.records]:
        assert token not in text and expired not in text  # ...without the token
