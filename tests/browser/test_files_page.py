"""The dashboard's Recordings and Snapshots views in Debian's Chromium against the real
service process: a large recording streams into the page and seeks with Range through
its download link (the credential never in a URL), the camera/time filters narrow the
lists, and the snapshot gallery follows new snapshots live, opens, downloads and (for
an operator only) deletes them."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, Page, Request, Response, expect

from tests.browser.conftest import Stack, screenshot
from tests.browser.test_dashboard import WAIT_MS, sign_in
from tests.conftest import make_token
from tests.rpc import RpcClient
from tests.support.system import require

BIG_SECONDS = 30


@pytest.fixture(scope="module")
def big_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30 s H.264 MP4 of about 80 MB (noise does not compress): far more than a
    browser reads ahead, so a seek near its end needs a new Range request."""
    require("chromium", "ffmpeg")
    path = tmp_path_factory.mktemp("media") / "big.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"),
            *("-vf", "noise=alls=30:allf=t", "-t", str(BIG_SECONDS)),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"),
            *("-movflags", "+faststart", str(path)),
        ],
        check=True,
        timeout=120,
    )
    return path


@pytest_asyncio.fixture
async def utc_page(browser: Browser) -> AsyncIterator[Page]:
    """A page whose local time is UTC, so the time filters' inputs read as the names."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    try:
        yield await context.new_page()
    finally:
        await context.close()


def media_dir(stack: Stack, kind: str) -> Path:
    return stack.config.parent / "data" / kind


async def operator(stack: Stack) -> RpcClient:
    client = await RpcClient.connect(stack.service.ws_url)
    await client.call("authenticate", {"auth_token": make_token("operator")})
    return client


async def listed(client: RpcClient, method: str, name: str) -> bool:
    files = (await client.call(method, {"limit": 1000}))["files"]
    return name in [f["filename"] for f in files]


async def until_listed(client: RpcClient, method: str, name: str) -> None:
    """A bounded poll: the index sees a file put there through inotify, and says so in
    no notification."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not await listed(client, method, name):
        assert time.monotonic() < deadline, f"{name} was never listed"
        await asyncio.sleep(0.1)


def file_urls(requests: list[Request], kind: str) -> list[str]:
    return [r.url for r in requests if urlsplit(r.url).path.startswith(f"/files/{kind}/")]


async def test_a_large_recording_streams_and_seeks_with_range_through_its_link(
    page: Page, stack: Stack, big_mp4: Path
) -> None:
    name = "lab_2026-12-07_06-00-00.mp4"
    shutil.copy(big_mp4, media_dir(stack, "recordings") / name)
    client = await operator(stack)
    try:
        await until_listed(client, "list_recordings", name)
    finally:
        await client.close()
    requests: list[Request] = []
    responses: list[Response] = []
    page.on("request", lambda r: requests.append(r))
    page.on("response", lambda r: responses.append(r))
    credential = make_token("operator")
    await sign_in(page, stack, credential)
    await page.click('#views button[data-view="recordings"]')
    row = page.locator(f'#recording-rows tr[data-file="{name}"]')
    await expect(row).to_be_visible(timeout=WAIT_MS)
    await row.locator('[data-action="play"]').click()
    await page.wait_for_function(
        "() => { const v = document.getElementById('playback');"
        f" return v.currentTime > 0.5 && v.duration > {BIG_SECONDS - 1}; }}",
        timeout=WAIT_MS,
    )
    first = len(requests)
    target = BIG_SECONDS - 3
    await page.evaluate(
        "t => { const v = document.getElementById('playback'); v.pause(); v.currentTime = t; }",
        target,
    )
    await page.wait_for_function(
        f"() => {{ const v = document.getElementById('playback');"
        f" return !v.seeking && v.currentTime >= {target - 0.5} && v.readyState >= 2; }}",
        timeout=WAIT_MS,
    )
    await screenshot(page, "recording-seeked")
    # The seek was served by a Range request for a later part of the file: a 206.
    size = (media_dir(stack, "recordings") / name).stat().st_size
    later = [r for r in requests[first:] if urlsplit(r.url).path.endswith(name)]
    assert later, "the seek made no new request for the file"
    ranges = [(r, await r.header_value("range") or "") for r in later]
    asked = [(r, re.fullmatch(r"bytes=([0-9]+)-([0-9]*)", v)) for r, v in ranges]
    seeks = [(r, m) for r, m in asked if m and int(m[1]) > 0]
    assert seeks, [v for _, v in ranges]
    partial = [r for r in responses if r.request in later and r.status == 206]
    assert partial, [(r.status, r.url) for r in responses if r.request in later]
    # Chromium's cache serves a range it already holds by revalidating it: the service's
    # 304 (rightly without Content-Range) is then the raw headers Playwright reports
    # (all_headers, header_value) for the 206 the cache makes of it. ``headers`` is each
    # 206 as Chromium handed it to the player, from the network or the cache ...
    for response in partial:
        assert response.headers.get("content-range", "").endswith(f"/{size}"), response.headers
    # ... and the service's own answer to the seek's farthest range, past that cache:
    request, match = max(seeks, key=lambda seek: int(seek[1][1]))
    start, last = int(match[1]), min(int(match[2] or size - 1), size - 1)
    reply = await page.request.get(request.url, headers={"Range": match[0]})
    assert reply.status == 206
    assert reply.headers.get("content-range") == f"bytes {start}-{last}/{size}", reply.headers
    assert reply.headers.get("content-length") == str(last + 1 - start)
    # Every URL of the file carries the link's own token, scoped to it; never the credential.
    urls = file_urls(requests, "recordings")
    assert urls
    for url in urls:
        assert credential not in url
        (token,) = parse_qs(urlsplit(url).query)["token"]
        assert token != credential
        assert set(parse_qs(urlsplit(url).query)) == {"token"}
        reply = await page.request.get(url.replace(name, "lab_2026-12-07_05-00-00.mp4"))
        assert reply.status == 403  # the same token opens no other file
    # ... and the service wrote neither to its log.
    text = str(stack.service.lines)
    assert credential not in text and token not in text


async def test_filters_narrow_the_recordings_newest_first(
    utc_page: Page, stack: Stack, big_mp4: Path
) -> None:
    page = utc_page
    clip = media_dir(stack, "recordings")
    names = [
        "lab_2026-01-10_10-00-00.mp4",
        "yard_2026-01-10_11-00-00.mp4",
        "lab_2026-01-10_12-00-00.mp4",
        "lab_2026-01-11_09-00-00.mp4",
    ]
    head = (await asyncio.to_thread(big_mp4.read_bytes))[: 64 * 1024]
    for n in names:
        (clip / n).write_bytes(head)  # for the list only: any bytes do
    client = await operator(stack)
    try:
        for n in names:
            await until_listed(client, "list_recordings", n)
    finally:
        await client.close()
    await sign_in(page, stack, make_token("viewer"))
    await page.click('#views button[data-view="recordings"]')
    rows = page.locator("#recording-rows tr")

    async def shown() -> list[str]:
        files: list[str] = await rows.evaluate_all("rs => rs.map(r => r.dataset.file)")
        return files

    await expect(rows).to_have_count(4, timeout=WAIT_MS)
    assert await shown() == list(reversed(sorted(names, key=lambda n: n.split("_", 1)[1])))
    await page.select_option("#recording-camera", "lab")
    await expect(rows).to_have_count(3, timeout=WAIT_MS)
    await page.fill("#recording-from", "2026-01-10T11:00")
    await page.dispatch_event("#recording-from", "change")
    await expect(rows).to_have_count(2, timeout=WAIT_MS)
    await page.fill("#recording-to", "2026-01-10T12:00")
    await page.dispatch_event("#recording-to", "change")
    await expect(rows).to_have_count(1, timeout=WAIT_MS)
    assert await shown() == ["lab_2026-01-10_12-00-00.mp4"]
    await page.select_option("#recording-camera", "")
    await expect(rows).to_have_count(2, timeout=WAIT_MS)
    assert await shown() == ["lab_2026-01-10_12-00-00.mp4", "yard_2026-01-10_11-00-00.mp4"]
    await screenshot(page, "recordings-filtered")
    # An impossible window is said in words, and asks the service nothing.
    await page.fill("#recording-to", "2026-01-10T10:00")
    await page.dispatch_event("#recording-to", "change")
    await expect(page.locator("#recordings-error")).to_contain_text("before")
    await expect(rows).to_have_count(0)
    await page.fill("#recording-from", "2026-02-01T00:00")
    await page.fill("#recording-to", "")
    await page.dispatch_event("#recording-to", "change")
    await expect(page.locator("#recordings-empty")).to_contain_text("match these filters")


async def test_the_gallery_shows_a_new_snapshot_live_and_an_operator_opens_downloads_deletes(
    page: Page, stack: Stack
) -> None:
    credential = make_token("operator")
    await sign_in(page, stack, credential)
    await expect(page.locator(".tile")).to_have_count(2, timeout=WAIT_MS)
    await page.click('#views button[data-view="snapshots"]')
    await expect(page.locator("#snapshots-empty")).to_have_text("No snapshots.", timeout=WAIT_MS)
    client = await operator(stack)
    try:
        taken = await client.call("take_snapshot", {"device": "lab"})
        name = taken["filename"]
        thumb = page.locator(f'#snapshot-grid .thumb[data-file="{name}"]')
        await expect(thumb).to_be_visible(timeout=WAIT_MS)  # no reload: from the notification
        await expect(page.locator("#snapshots-empty")).to_be_hidden()
        await page.wait_for_function(
            "n => { const i = document.querySelector(`.thumb[data-file='${n}'] img`);"
            " return i && i.complete && i.naturalWidth === 640; }",
            arg=name,
            timeout=WAIT_MS,
        )
        await thumb.locator('[data-action="open"]').click()
        viewer = page.locator("#snapshot-viewer")
        await expect(viewer).to_be_visible()
        await page.wait_for_function(
            "() => document.getElementById('snapshot-large').naturalHeight === 360",
            timeout=WAIT_MS,
        )
        await expect(page.locator("#snapshot-caption")).to_contain_text(name)
        await screenshot(page, "snapshot-open")
        async with page.expect_download() as info:
            await page.click("#snapshot-viewer-download")
        download = await info.value
        assert download.suggested_filename == name
        assert credential not in download.url and "token=" in download.url
        saved = await download.path()
        assert saved.read_bytes() == (media_dir(stack, "snapshots") / name).read_bytes()
        await page.click("#snapshot-viewer-close")
        await expect(viewer).to_be_hidden()
        await screenshot(page, "snapshots")
        page.once("dialog", lambda dialog: dialog.accept())
        await thumb.locator('[data-action="delete"]').click()
        await expect(thumb).to_have_count(0, timeout=WAIT_MS)
        await expect(page.locator("#toast")).to_contain_text(f"Deleted {name}")
        await expect(page.locator("#snapshots-empty")).to_be_visible()
        assert not await listed(client, "list_snapshots", name)
    finally:
        await client.close()


async def test_a_viewer_opens_snapshots_but_cannot_delete_them(page: Page, stack: Stack) -> None:
    await sign_in(page, stack, make_token("viewer"))
    await page.click('#views button[data-view="snapshots"]')
    await expect(page.locator("#snapshots-empty")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#snapshot-camera option")).to_have_count(3)  # all, lab, yard
    client = await operator(stack)
    try:
        lab = (await client.call("take_snapshot", {"device": "lab"}))["filename"]
        await expect(page.locator(f'.thumb[data-file="{lab}"]')).to_be_visible(timeout=WAIT_MS)
        # A camera filter keeps out what it does not name, live ones too.
        await page.select_option("#snapshot-camera", "yard")
        await expect(page.locator("#snapshots-empty")).to_contain_text("match these filters")
        yard = (await client.call("take_snapshot", {"device": "yard"}))["filename"]
        await expect(page.locator(f'.thumb[data-file="{yard}"]')).to_be_visible(timeout=WAIT_MS)
        lab2 = (await client.call("take_snapshot", {"device": "lab"}))["filename"]
        await until_listed(client, "list_snapshots", lab2)
        await expect(page.locator(".thumb")).to_have_count(1)
        await page.select_option("#snapshot-camera", "")
        await expect(page.locator(".thumb")).to_have_count(3, timeout=WAIT_MS)
        names = await page.locator(".thumb").evaluate_all("ts => ts.map(t => t.dataset.file)")
        assert sorted(names) == sorted([lab, yard, lab2])
        stamps = [n.split("_snapshot_")[1][:19] for n in names]
        assert stamps == sorted(stamps, reverse=True)  # newest first
    finally:
        await client.close()
    await expect(page.locator('.thumb [data-action="download"]')).to_have_count(3)
    assert await page.locator('[data-action="delete"]').count() == 0
    await page.locator(f'.thumb[data-file="{yard}"] [data-action="open"]').click()
    await expect(page.locator("#snapshot-viewer")).to_be_visible()
    await screenshot(page, "snapshots-viewer")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


async def test_an_expired_link_is_renewed_and_playback_goes_on_where_it_was(
    page: Page, stack: Stack, big_mp4: Path
) -> None:
    # Links of 3 s (the key is live: a reload applies it).
    data = yaml.safe_load(stack.config.read_text())
    data.setdefault("security", {})["file_links"] = {"default_ttl": 3}
    stack.config.write_text(yaml.safe_dump(data))
    stack.service.signal(signal.SIGHUP)
    await stack.service.wait_for_log("configuration reloaded")
    name = "lab_2026-12-07_04-00-00.mp4"
    shutil.copy(big_mp4, media_dir(stack, "recordings") / name)
    client = await operator(stack)
    try:
        await until_listed(client, "list_recordings", name)
    finally:
        await client.close()
    responses: list[Response] = []
    page.on("response", lambda r: responses.append(r))
    await sign_in(page, stack, make_token("viewer"))
    await page.click('#views button[data-view="recordings"]')
    await page.locator(f'#recording-rows tr[data-file="{name}"] [data-action="play"]').click()
    await page.wait_for_function(
        "() => document.getElementById('playback').currentTime > 0.5", timeout=WAIT_MS
    )
    first = parse_qs(urlsplit(await page.locator("#playback").evaluate("v => v.src")).query)
    (token,) = first["token"]
    assert claims_of(token)["file"] == f"recordings/{name}"
    await page.evaluate("() => document.getElementById('playback').pause()")
    # Until the link has expired (a condition on the clock, not a guess at a delay).
    await page.wait_for_function(
        f"() => Date.now() / 1000 > {claims_of(token)['exp'] + 0.5}", timeout=WAIT_MS
    )
    target = BIG_SECONDS - 3
    await page.evaluate("t => { document.getElementById('playback').currentTime = t; }", target)
    await page.wait_for_function(
        f"() => {{ const v = document.getElementById('playback');"
        f" return v.src.indexOf({json.dumps(token)}) < 0 && !v.seeking"
        f" && v.currentTime >= {target - 0.5} && v.readyState >= 2; }}",
        timeout=WAIT_MS,
    )
    mine = [r for r in responses if urlsplit(r.url).path.endswith(name)]
    refused = [r for r in mine if token in r.url and r.status == 401]
    assert refused, [(r.status, r.url[-20:]) for r in mine]
    renewed = [r for r in mine if token not in r.url and r.status == 206]
    assert renewed, [(r.status, r.url[-20:]) for r in mine]
