// A WHEP reader (RFC 9725) of one MediaMTX stream: an SDP offer POSTed to
// `<stream>/whep?jwt=...`, the answer from its `201 Created`, DELETE on the session's
// Location when done. ICE is gathered before the offer is sent (no trickle), with no
// STUN server: MediaMTX's answer names its own candidates.
const GATHER_MS = 2000;

// A WHEP endpoint that is not there (MediaMTX without WebRTC, a proxy that does not pass
// it) is remembered per origin for OFF_MS, so the page's other tiles go to HLS at once.
const OFF_MS = 120000;
const OFF_STATUS = [404, 405, 501];
const off = new Map(); // origin -> { until, why }

// Why WebRTC is known not to work for this stream URL's server now, or "".
export function whepOff(streamUrl) {
  const origin = new URL(streamUrl, location.href).origin;
  const known = off.get(origin);
  if (!known) return "";
  if (Date.now() < known.until) return known.why;
  off.delete(origin);
  return "";
}

export class WhepError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

// The WHEP endpoint of a stream URL from create_media_token (`http://h:8889/cam?jwt=T`):
// `/whep` after the path, the query kept.
export function whepUrl(streamUrl) {
  const u = new URL(streamUrl, location.href);
  u.pathname = `${u.pathname.replace(/\/$/, "")}/whep`;
  return u.toString();
}

export class WhepSession {
  // `onEnd(reason)` is called once when an established session drops.
  constructor(url, onEnd) {
    this.url = url;
    this.onEnd = onEnd;
    this.pc = null;
    this.location = null;
    this.closed = false;
  }

  // Resolves with the remote MediaStream once the answer is applied.
  async start() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (event) => stream.addTrack(event.track);
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      if (pc.connectionState === "failed" || pc.connectionState === "closed") this.end("the WebRTC connection dropped");
      else if (pc.connectionState === "disconnected") {
        // ICE may recover on its own within a few seconds; past that it is gone.
        setTimeout(() => {
          if (!this.closed && pc.connectionState === "disconnected") this.end("the WebRTC connection dropped");
        }, 3000);
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    let response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
    } catch {
      throw this.unavailable(new WhepError("the WebRTC server cannot be reached"));
    }
    if (response.status !== 201) {
      const why = response.status === 401 ? "not authorized" : response.status === 404 ? "no WebRTC stream here" : `HTTP ${response.status}`;
      const err = new WhepError(why, response.status);
      throw OFF_STATUS.includes(response.status) ? this.unavailable(err) : err;
    }
    const where = response.headers.get("Location");
    if (where) this.location = new URL(where, this.url).toString();
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    return stream;
  }

  unavailable(err) {
    off.set(new URL(this.url).origin, { until: Date.now() + OFF_MS, why: err.message });
    return err;
  }

  end(reason) {
    if (this.closed) return;
    this.stop();
    this.onEnd(reason);
  }

  // Close the peer and end the session on the server (best effort: it also times out).
  stop() {
    this.closed = true;
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.location) fetch(this.location, { method: "DELETE" }).catch(() => {});
    this.location = null;
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, GATHER_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
