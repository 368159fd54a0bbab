// One camera's live picture in a page: a stream while wanted and playable, else the
// reason in words beside a fresh still picture (get_preview), refreshed (docs/api.md
// "Dashboard"). The live stream is WebRTC through MediaMTX's WHEP endpoint first, HLS
// when WHEP fails or shows no frame in time. The grid's tiles and the camera page each hold one; `host`
// gets the state as `data-state` (loading, playing, paused, disconnected,
// mediamtx-down, error, ...) and what carries the picture as `data-transport`
// (webrtc, hls, still).
import Hls from "/dashboard/vendor/hls.light.min.mjs";
import { WhepSession, whepOff, whepUrl } from "/dashboard/js/whep.js";

const TOKEN_TTL = 300; // seconds a media token lives; renewed at 80 %
// A tile that cannot play retries after RETRY_MS, doubling to RETRY_MAX_MS, reusing its
// token while it has half its life left: a grid of failing tiles must stay within the
// connection's rate limit (security.rate_limit, 120 calls a minute by default).
const RETRY_MS = 5000;
const RETRY_MAX_MS = 60000;
const FIRST_FRAME_MS = 8000; // a WebRTC session with no frame by then: HLS instead
const STILL_MS = 15000; // how often the still picture is fetched again

export function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

// The URL with its `jwt` query parameter set to `token` (playlists and segments too:
// a token renewed while playing goes on every later request).
function withToken(url, token) {
  const u = new URL(url, location.href);
  if (u.searchParams.has("jwt")) u.searchParams.set("jwt", token);
  return u.toString();
}

export function mark(name) {
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
}

export class Player {
  constructor(session, camera, host) {
    this.session = session;
    this.camera = camera;
    this.host = host;
    this.visible = false;
    this.hls = null;
    this.whep = null;
    this.webrtcFailure = "";
    this.retryDelay = RETRY_MS;
    this.media = null; // the last create_media_token result, reused while fresh
    this.stillFetched = 0;
    this.noPicture = false;
    this.token = null;
    this.frameTimer = null;
    this.stillTimer = null;
    this.renewTimer = null;
    this.retryTimer = null;
    this.root = el("div", { class: "media" });
    this.video = el("video", { muted: "", playsinline: "", autoplay: "" });
    this.video.muted = true;
    this.image = el("img", { alt: "", hidden: "" });
    this.notice = el("p", { class: "notice", role: "status" });
    this.root.append(this.image, this.video, this.notice);
    this.video.addEventListener("playing", () => {
      if (!this.hls && !this.whep) return;
      this.retryDelay = RETRY_MS;
      delete this.host.dataset.retries;
      clearTimeout(this.frameTimer);
      this.stopStill();
      this.image.hidden = true;
      this.setState("playing");
      mark(`tile-frame:${this.id}`); // bench/dashboard.py: time to the first frame
    });
  }

  get id() {
    return this.camera.camera_id;
  }

  setCamera(camera) {
    const wasConnected = this.camera.status === "CONNECTED";
    this.camera = camera;
    if ((camera.status === "CONNECTED") !== wasConnected) this.refresh();
  }

  setVisible(visible) {
    if (visible === this.visible) return;
    this.visible = visible;
    this.refresh();
  }

  // Decide what to show now: a stream when it can play, else why not.
  refresh() {
    const c = this.camera;
    if (c.status !== "CONNECTED") {
      this.stop();
      this.stopStill();
      this.setState("disconnected", "Camera disconnected: no picture until it is back.");
    } else if (!this.session.mediamtxUp) {
      this.stop();
      this.setState("mediamtx-down", "MediaMTX is down: live video is unavailable.");
      this.showSnapshot();
    } else if (!this.visible) {
      this.stop();
      this.stopStill();
      this.setTransport(null);
      this.setState("paused", "Off screen: not streaming.");
    } else if (!this.hls && !this.whep) {
      this.play();
    }
  }

  setState(state, message = "") {
    this.host.dataset.state = state;
    this.notice.textContent = message;
  }

  setTransport(transport) {
    if (transport) this.host.dataset.transport = transport;
    else delete this.host.dataset.transport;
  }

  // Still on a reason (the still picture beside it): say "Retrying…" again, not "loading".
  get still() {
    return this.host.dataset.transport === "still";
  }

  async play() {
    clearTimeout(this.retryTimer);
    if (!this.still) this.setState("loading", "Connecting to the stream…");
    mark(`tile-open:${this.id}`);
    let media = this.media;
    const left = media ? Date.parse(media.expires_at) - Date.now() : 0;
    if (!media || left < (TOKEN_TTL * 1000) / 2) {
      try {
        media = await this.session.rpc.call("create_media_token", { camera_id: this.id, ttl_seconds: TOKEN_TTL });
      } catch (err) {
        this.fail(`No stream credential: ${err.message}`);
        return;
      }
      this.media = media;
      this.scheduleRenewal();
    } else {
      this.scheduleRenewal(left - TOKEN_TTL * 200); // stop() cleared it: renew at 80 % again
    }
    if (!this.wanted()) return;
    this.token = media.token;
    const off = media.streams.webrtc ? whepOff(media.streams.webrtc) : "";
    if (off) {
      this.webrtcFailure = `WebRTC: ${off}`; // another tile found no WHEP server there
    } else if (!this.noPicture && media.streams.webrtc && typeof RTCPeerConnection === "function") {
      const why = await this.playWebrtc(media.streams.webrtc);
      if (!why || !this.wanted()) return;
      this.webrtcFailure = why;
    } else if (!this.noPicture) {
      this.webrtcFailure = "this browser has no WebRTC";
    }
    this.playHls(media.streams.hls);
  }

  wanted() {
    return this.visible && this.camera.status === "CONNECTED" && this.session.mediamtxUp;
  }

  // WebRTC through WHEP; resolves with why it cannot play, or "" once it is started.
  async playWebrtc(streamUrl) {
    const session = new WhepSession(whepUrl(withToken(streamUrl, this.token)), (reason) => {
      if (session !== this.whep) return;
      // A dropped session (MediaMTX restarted, network gone): connect again.
      this.stop();
      this.setState("loading", `Reconnecting: ${reason}…`);
      this.retryTimer = setTimeout(() => this.refresh(), 1000);
    });
    this.whep = session;
    try {
      const stream = await session.start();
      if (session !== this.whep) return "";
      this.setTransport("webrtc");
      this.video.srcObject = stream;
      this.video.play().catch(() => {});
    } catch (err) {
      session.stop();
      if (session === this.whep) this.whep = null;
      return `WebRTC: ${err.message}`;
    }
    clearTimeout(this.frameTimer);
    this.frameTimer = setTimeout(() => {
      if (session !== this.whep || this.host.dataset.state === "playing") return;
      session.stop();
      this.whep = null;
      this.video.srcObject = null;
      // HLS until the chain starts over (fail()): WebRTC connects here but shows nothing.
      this.noPicture = true;
      this.webrtcFailure = "WebRTC: no picture arrived";
      if (this.wanted()) this.play();
    }, FIRST_FRAME_MS);
    return "";
  }

  playHls(hlsUrl) {
    if (!Hls.isSupported()) {
      this.fail(`The stream can't play: ${this.webrtcFailure}, and this browser cannot play HLS (no Media Source Extensions).`);
      return;
    }
    const hls = new Hls({
      liveDurationInfinity: true,
      manifestLoadingMaxRetry: 2,
      xhrSetup: (xhr, url) => xhr.open("GET", withToken(url, this.token), true),
    });
    this.hls = hls;
    this.setTransport("hls");
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || hls !== this.hls) return;
      const code = data.response && data.response.code;
      let why = data.details;
      if (code === 401 || code === 403) why = "not authorized to watch this camera";
      else if (code === 404) why = "the stream is not available";
      else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) why = "MediaMTX cannot be reached";
      this.fail(`The stream can't play: ${this.webrtcFailure}; HLS: ${why}.`);
    });
    hls.loadSource(hlsUrl);
    hls.attachMedia(this.video);
    this.video.play().catch(() => {});
  }

  scheduleRenewal(delay = TOKEN_TTL * 800) {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(async () => {
      try {
        const media = await this.session.rpc.call("create_media_token", { camera_id: this.id, ttl_seconds: TOKEN_TTL });
        this.media = media;
        this.token = media.token;
        this.scheduleRenewal();
      } catch {
        // the next request is refused and the error handler says so
      }
    }, delay);
  }

  // Neither transport plays: the still picture, refreshed, beside the reason; the live
  // stream is tried again meanwhile.
  fail(message) {
    this.stop();
    this.noPicture = false;
    this.setState("error", `${message} Retrying…`);
    this.showSnapshot();
    this.retryTimer = setTimeout(() => this.refresh(), this.retryDelay);
    this.host.dataset.retries = String(Number(this.host.dataset.retries || 0) + 1);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
  }

  stopStill() {
    clearInterval(this.stillTimer);
    this.stillTimer = null;
  }

  stop() {
    clearTimeout(this.renewTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.frameTimer);
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.whep) {
      this.whep.stop();
      this.whep = null;
    }
    this.video.srcObject = null;
    this.video.removeAttribute("src");
    this.video.load();
  }

  // A fresh picture of the camera (get_preview: any role, shared by every viewer for a
  // few seconds), fetched now and every STILL_MS until a stream plays: a picture
  // beside the reason.
  showSnapshot() {
    this.setTransport("still");
    if (!this.stillTimer) this.stillTimer = setInterval(() => this.fetchStill(), STILL_MS);
    if (Date.now() - this.stillFetched >= STILL_MS) this.fetchStill();  // not once per retry
  }

  async fetchStill() {
    this.stillFetched = Date.now();
    try {
      const shot = await this.session.rpc.call("get_preview", { device: this.id });
      this.image.src = `data:image/jpeg;base64,${shot.image}`;
      this.image.alt = `Picture of ${this.id} taken ${shot.taken_at}`;
      this.image.dataset.takenAt = shot.taken_at;
      this.image.dataset.fetched = String(Date.now());
      this.image.hidden = false;
    } catch {
      // no picture now: the notice alone says why, the last one (if any) stays
    }
  }

  destroy() {
    this.stop();
    this.stopStill();
  }
}
