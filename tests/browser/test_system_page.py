"""The dashboard's System view in Debian's Chromium against the real service process and
the MediaMTX double: component health with reasons, capacity, storage and retention
(admins edit it), the live event feed, and a connection that recovers when the service
is stopped and started again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Stack, screenshot
from tests.conftest import make_token
from tests.rpc import RpcClient

WAIT_MS = 30_000
WAIT_S = WAIT_MS / 1000


async def open_system(page: Page, stack: Stack, credential: str) -> None:
    await page.goto(stack.url)
    await page.fill("#credential", credential)
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#sign-out")).to_be_visible(timeout=WAIT_MS)
    await page.click('#views button[data-view="system"]')
    await expect(page.locator("#system")).to_be_visible()


@asynccontextmanager
async def client_of(stack: Stack, role: str) -> AsyncIterator[RpcClient]:
    client = await RpcClient.connect(stack.service.ws_url)
    try:
        await client.call("authenticate", {"auth_token": make_token(role)})
        yield client
    finally:
        await client.close()


async def until_ready(client: RpcClient) -> None:
    """Until the service has seen MediaMTX and applied the cameras' paths."""
    deadline = time.monotonic() + WAIT_S
    while (await client.call("get_system_status"))["status"] != "ready":
        assert time.monotonic() < deadline, "the service never became ready"
        await asyncio.sleep(0.1)


async def shown_capacity(page: Page) -> dict[str, dict[str, int]]:
    """What the page's capacity bars show: {resource: {limit, active}} from the meters."""
    found: dict[str, dict[str, int]] = await page.locator("#capacity .capacity").evaluate_all(
        """rows => Object.fromEntries(rows.map(r => {
             const m = r.querySelector('meter');
             return [r.dataset.resource, {limit: Number(m.max), active: Number(m.value)}];
           }))"""
    )
    return found


async def test_health_of_every_component_and_capacity_as_the_service_reports(
    page: Page, stack: Stack
) -> None:
    async with client_of(stack, "admin") as admin:
        await until_ready(admin)
        await admin.call("start_recording", {"device": "lab"})  # one recording: a bar not at 0
        await open_system(page, stack, make_token("viewer"))  # health is for every role
        status = await admin.call("get_status")
        for name, state in status["components"].items():
            row = page.locator(f'#health li[data-component="{name}"]')
            await expect(row).to_have_attribute("data-status", state, timeout=WAIT_MS)
            await expect(row.locator(".badge")).to_have_text(state)
        assert await page.locator("#health li").count() == len(status["components"])
        await expect(page.locator('#health li[data-component="mediamtx"]')).to_contain_text(
            "MediaMTX"
        )
        # The bars are the service's figures (streams and connections move as tiles
        # open and close: the page follows within a poll).
        deadline = time.monotonic() + WAIT_S
        while True:
            capacity = (await admin.call("get_status"))["capacity"]
            wanted = {k: {"limit": v["limit"], "active": v["active"]} for k, v in capacity.items()}
            if (shown := await shown_capacity(page)) == wanted:
                break
            assert time.monotonic() < deadline, (shown, wanted)
            await page.wait_for_timeout(250)
        assert wanted["recordings"]["active"] == 1
        assert set(wanted) >= {"usb_cameras", "streams", "recordings", "snapshots"}
        recordings = page.locator('#capacity [data-resource="recordings"] .figures')
        limit = capacity["recordings"]["limit"]
        await expect(recordings).to_have_text(f"1 of {limit} in use, {limit - 1} free")
        # A viewer sees no storage figures, and is told why.
        await expect(page.locator("#storage-note")).to_contain_text("shown to admins")
        await expect(page.locator("#retention-form")).to_be_hidden()
        await screenshot(page, "system-viewer")
        await admin.call("stop_recording", {"device": "lab"})


async def test_the_system_view_fits_a_phone_screen(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = await context.new_page()
        await open_system(phone, stack, make_token("admin"))
        await expect(phone.locator("#retention-form")).to_be_visible(timeout=WAIT_MS)
        await expect(phone.locator("#capacity .capacity").first).to_be_visible()
        wide = await phone.evaluate("document.scrollingElement.scrollWidth")
        assert wide <= 390, wide  # nothing sticks out sideways
        await screenshot(phone, "system-phone")
    finally:
        await context.close()


async def test_mediamtx_stopped_makes_its_component_unhealthy_with_the_reason(
    page: Page, stack: Stack
) -> None:
    await open_system(page, stack, make_token("viewer"))
    mediamtx = page.locator('#health li[data-component="mediamtx"]')
    await expect(mediamtx).to_have_attribute("data-status", "healthy", timeout=WAIT_MS)
    await stack.hls.stop()
    await stack.mtx.stop()
    await expect(mediamtx).to_have_attribute("data-status", "unhealthy", timeout=WAIT_MS)
    await expect(mediamtx.locator(".reason")).to_contain_text("unreachable")
    await expect(page.locator("#health-overall")).to_contain_text("not healthy")
    # What the page shows a viewer names no address of the hub's parts.
    assert "127.0.0.1" not in await page.locator("#system").inner_text()
    # The change arrived as a notification too, in the feed.
    feed = page.locator('#events li[data-topic="system_status_update"]')
    await expect(feed.filter(has_text="MediaMTX is unhealthy")).to_have_count(1, timeout=WAIT_MS)
    await screenshot(page, "system-mediamtx-down")


async def test_an_admin_edits_retention_and_the_change_holds(page: Page, stack: Stack) -> None:
    await open_system(page, stack, make_token("admin"))
    form = page.locator("#retention-form")
    await expect(form).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator('#storage [data-resource="disk"] .figures')).to_contain_text("used")
    await expect(page.locator('#storage [data-dir="recordings"]')).to_be_visible()
    error = page.locator("#retention-error")
    await page.select_option("#retention-type", "age")
    for typed, said in [
        ("many", "invalid max_age_days: expected a number"),
        ("0", "invalid max_age_days: must be greater than 0"),
        ("", "invalid max_age_days: required when policy_type is age"),
    ]:
        await page.fill("#retention-limit", typed)
        await form.locator("button[type=submit]").click()
        await expect(error).to_be_visible(timeout=WAIT_MS)
        await expect(error).to_contain_text(said)
    await screenshot(page, "system-retention-refused")
    await page.fill("#retention-limit", "14")
    await page.check("#retention-enabled")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#toast")).to_contain_text("older than 14 days", timeout=WAIT_MS)
    await expect(error).to_be_hidden()
    await expect(page.locator("#retention-current")).to_contain_text("older than 14 days")
    await expect(page.locator("#retention-current")).to_contain_text("set by an admin")
    async with client_of(stack, "admin") as admin:
        policy = (await admin.call("get_storage_info"))["retention_policy"]
    assert policy == {
        "policy_type": "age",
        "enabled": True,
        "max_age_days": 14.0,
        "source": "stored",
    }
    # A new page load shows the stored policy in the form.
    await page.reload()
    await page.click('#views button[data-view="system"]')
    await expect(page.locator("#retention-limit")).to_have_value("14", timeout=WAIT_MS)
    await expect(page.locator("#retention-type")).to_have_value("age")
    await screenshot(page, "system-admin")


async def test_an_operator_cannot_edit_retention(page: Page, stack: Stack) -> None:
    async with client_of(stack, "admin") as admin:
        before = (await admin.call("get_storage_info"))["retention_policy"]
        operator = make_token("operator")
        await open_system(page, stack, operator)
        await expect(page.locator("#health li").first).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#retention-form")).to_be_hidden()
        await expect(page.locator("#storage-note")).to_contain_text("shown to admins")
        # The server refuses it anyway, to a page that tries.
        refused = await page.evaluate(
            """async ([token]) => {
                 const { Rpc } = await import('/dashboard/js/rpc.js');
                 const conf = await (await fetch('/dashboard/config.json')).json();
                 const rpc = new Rpc(`ws://${location.hostname}:${conf.ws_port}${conf.ws_path}`);
                 await rpc.open();
                 await rpc.call('authenticate', {auth_token: token});
                 try {
                   await rpc.call('set_retention_policy', {policy_type: 'manual', enabled: false});
                   return null;
                 } catch (err) {
                   return err.code;
                 } finally {
                   rpc.close();
                 }
               }""",
            [operator],
        )
        assert refused == -32003
        assert (await admin.call("get_storage_info"))["retention_policy"] == before


async def test_the_feed_shows_a_recording_started_and_stopped(page: Page, stack: Stack) -> None:
    await open_system(page, stack, make_token("operator"))
    await expect(page.locator("#events-empty")).to_be_visible(timeout=WAIT_MS)
    async with client_of(stack, "operator") as operator:
        await until_ready(operator)
        started = await operator.call("start_recording", {"device": "lab"})
        recordings = page.locator('#events li[data-topic="recording_status_update"]')
        await expect(recordings.first).to_contain_text("Recording started on lab", timeout=WAIT_MS)
        # The grid still hears the default topics: the lab tile shows it recording.
        rec = page.locator('.tile[data-camera="lab"] .rec')
        await expect(rec).not_to_have_attribute("hidden", "")
        await operator.call("stop_recording", {"device": "lab"})
        await expect(recordings.first).to_contain_text("Recording stopped on lab", timeout=WAIT_MS)
        await expect(recordings.nth(1)).to_contain_text("Recording started on lab")
        await expect(rec).to_have_attribute("hidden", "")
        assert started["filename"].startswith("lab_")
        await operator.call("take_snapshot", {"device": "lab"})  # an opt-in topic
        snapshot = page.locator('#events li[data-topic="snapshot_taken"]')
        await expect(snapshot).to_contain_text("Snapshot of lab: lab_snapshot_", timeout=WAIT_MS)
        # Newest first: the snapshot is at the top.
        await expect(page.locator("#events li").first).to_have_attribute(
            "data-topic", "snapshot_taken"
        )
    await screenshot(page, "system-feed")


async def wait_for_banner_tries(page: Page, tries: int) -> None:
    """Until the reconnecting banner says ``tries`` attempts have failed."""
    await page.wait_for_function(
        """([n]) => {
             const m = /(\\d+) tries so far/.exec(document.getElementById('banner').textContent);
             return m !== null && Number(m[1]) >= n;
           }""",
        arg=[tries],
        timeout=WAIT_MS,
    )


async def test_the_page_reconnects_and_restores_its_view(page: Page, stack: Stack) -> None:
    await open_system(page, stack, make_token("viewer"))
    await expect(page.locator("#health li").first).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(".tile")).to_have_count(2, timeout=WAIT_MS)
    await stack.stop_service()
    banner = page.locator("#banner")
    await expect(banner).to_contain_text("reconnecting", timeout=WAIT_MS)
    await expect(banner).to_contain_text("Not connected to the service since")
    await expect(banner).to_have_attribute("data-kind", "reconnecting")
    # Tries again (backing off) and never sends the person back to sign in for it.
    await wait_for_banner_tries(page, 2)
    await expect(page.locator("#sign-in")).to_be_hidden()
    await expect(page.locator("#system")).to_be_visible()
    await expect(page.locator('#events li[data-topic="connection"]').first).to_contain_text(
        "Connection to the service lost"
    )
    # What was read before is not passed off as now.
    await expect(page.locator("#health-overall")).to_contain_text("Not connected to the service")
    await screenshot(page, "system-reconnecting")

    await stack.start_service()
    await expect(banner).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator('#events li[data-topic="connection"]').first).to_contain_text(
        "Reconnected after"
    )
    # The same view, its tiles back, and its subscriptions: an opt-in topic arrives.
    await expect(page.locator('#views button[data-view="system"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(page.locator("#system")).to_be_visible()
    await expect(page.locator("#health-overall")).to_have_text(
        "Every component is healthy.", timeout=WAIT_MS
    )
    await expect(page.locator(".tile")).to_have_count(2, timeout=WAIT_MS)
    await expect(page.locator("#identity")).to_contain_text("viewer")
    async with client_of(stack, "operator") as operator:
        await until_ready(operator)
        await operator.call("take_snapshot", {"device": "yard"})
        snapshot = page.locator('#events li[data-topic="snapshot_taken"]')
        await expect(snapshot).to_contain_text("Snapshot of yard", timeout=WAIT_MS)
        await operator.call("start_recording", {"device": "lab", "duration_seconds": 1})
        recording = page.locator('#events li[data-topic="recording_status_update"]')
        await expect(recording.first).to_contain_text("Recording started on lab", timeout=WAIT_MS)


async def test_a_credential_that_expired_while_away_leads_to_sign_in(
    page: Page, stack: Stack
) -> None:
    ttl = 6.0
    token = make_token("viewer", ttl=ttl)
    expires = time.time() + ttl
    await open_system(page, stack, token)
    await stack.stop_service()
    await expect(page.locator("#banner")).to_contain_text("reconnecting", timeout=WAIT_MS)
    await expect(page.locator("#sign-in")).to_be_hidden()
    # Expiry is a time, not an event: wait for it to pass, then let the service answer.
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.5)
    await stack.start_service()
    error = page.locator("#sign-in-error")
    await expect(error).to_contain_text("expired", timeout=WAIT_MS)
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#banner")).to_be_hidden()
    await expect(page.locator("#system")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0
