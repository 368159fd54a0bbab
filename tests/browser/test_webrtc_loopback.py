"""WebRTC in the browser tests keeps to loopback: the pair ICE selects is 127.0.0.1 to
127.0.0.1 on both sides, Chromium's, from ``RTCPeerConnection.getStats()`` in the page,
and the double's, from its aiortc peer, which never even checks another address.

Chromium, without a camera or microphone permission (the tests grant none), does not
enumerate interfaces: its ICE sockets are bound to the wildcard address and its offer
names only the default route's addresses (the machine's Ethernet address). Loopback
is never the default route, and the IP handling policies (the
``--force-webrtc-ip-handling-policy`` flag, the WebRtcIPHandling policy) only choose
among the machine's interfaces and that route; only a network namespace with nothing
but ``lo`` would leave Chromium loopback alone. So the double keeps to loopback: it
discards an offer's candidates that are not on 127.0.0.1 and every packet that does
not come from it (tests/support/mediamtx/webrtc.py)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import Stack
from tests.browser.test_dashboard import WAIT_MS, sign_in
from tests.conftest import make_token
from tests.support.mediamtx.webrtc import FOREIGN, ice_pairs

LOOPBACK = "127.0.0.1"
# Every RTCPeerConnection the page makes, kept for the test to ask (the page's code
# is not changed: its constructor is wrapped before any script runs).
RECORD_PEERS = """(() => {
  const Native = window.RTCPeerConnection;
  const peers = [];
  window.__peers = peers;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    peers.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""
# The selected candidate pair of each open peer: [state, local, remote] (address and type).
SELECTED = """async () => {
  const out = [];
  for (const pc of window.__peers) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      const id = s.type === "transport" && s.selectedCandidatePairId;
      if (id) pair = stats.get(id);
    });
    const side = (id) => {
      const c = stats.get(id);
      return { address: c.address, type: c.candidateType, protocol: c.protocol };
    };
    const local = pair && side(pair.localCandidateId);
    out.push({ state: pc.connectionState, local, remote: pair && side(pair.remoteCandidateId) });
  }
  return out;
}"""


async def test_the_selected_candidate_pair_is_loopback_on_both_sides(
    page: Page, stack: Stack
) -> None:
    foreign = sum(FOREIGN.values())
    await page.add_init_script(RECORD_PEERS)
    await sign_in(page, stack, make_token("viewer"))
    for camera in ("lab", "yard"):
        tile = page.locator(f'.tile[data-camera="{camera}"]')
        await expect(tile).to_have_attribute("data-state", "playing", timeout=WAIT_MS)
        await expect(tile).to_have_attribute("data-transport", "webrtc")
    # Chromium's side.
    peers: list[dict[str, Any]] = await page.evaluate(SELECTED)
    assert len(peers) == 2, peers
    for peer in peers:
        assert peer["state"] == "connected", peer
        assert peer["local"]["address"] == peer["remote"]["address"] == LOOPBACK, peer
        assert peer["local"]["protocol"] == peer["remote"]["protocol"] == "udp", peer
    # The double's side: nominated on loopback, and nothing else was ever checked.
    assert len(stack.webrtc.sessions) == 2
    for session in stack.webrtc.sessions.values():
        nominated, checked = ice_pairs(session.pc)
        assert nominated == (LOOPBACK, LOOPBACK)
        assert checked == {(LOOPBACK, LOOPBACK)}
    # No packet came from anywhere but loopback.
    assert sum(FOREIGN.values()) == foreign, FOREIGN
