// One camera's live picture in a page: a stream while wanted and playable, else the
// reason in words beside the newest snapshot (docs/api.md "create_media_token"). The
// grid's tiles and the camera page each hold one; `host` gets the state as
// `data-state` (loading, playing, paused, disconnected, mediamtx-down, error, ...).
import Hls from "/dashboard/vendor/hls.light.min.mjs";

const TOKEN_TTL = 300; // seconds a media token lives; renewed at 80 %
const RETRY_MS = 5000;

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
    this.token = null;
    this.renewTimer = null;
    this.retryTimer = null;
    this.snapshotUrl = null;
    this.root = el("div", { class: "media" });
    this.video = el("video", { muted: "", playsinline: "", autoplay: "" });
    this.video.muted = true;
    this.image = el("img", { alt: "", hidden: "" });
    this.notice = el("p", { class: "notice", role: "status" });
    this.root.append(this.image, this.video, this.notice);
    this.video.addEventListener("playing", () => {
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
      this.setState("disconnected", "Camera disconnected: no picture until it is back.");
    } else if (!this.session.mediamtxUp) {
      this.stop();
      this.setState("mediamtx-down", "MediaMTX is down: live video is unavailable.");
      this.showSnapshot();
    } else if (!this.visible) {
      this.stop();
      this.setState("paused", "Off screen: not streaming.");
    } else if (!this.hls) {
      this.play();
    }
  }

  setState(state, message = "") {
    this.host.dataset.state = state;
    this.notice.textContent = message;
  }

  async play() {
    clearTimeout(this.retryTimer);
    if (!Hls.isSupported()) {
      this.setState("unsupported", "This browser cannot play HLS (no Media Source Extensions).");
      this.showSnapshot();
      return;
    }
    this.setState("loading", "Connecting to the stream…");
    mark(`tile-open:${this.id}`);
    let media;
    try {
      media = await this.session.rpc.call("create_media_token", { camera_id: this.id, ttl_seconds: TOKEN_TTL });
    } catch (err) {
      this.fail(`No stream credential: ${err.message}`);
      return;
    }
    if (!this.visible || this.camera.status !== "CONNECTED" || !this.session.mediamtxUp) return;
    this.token = media.token;
    this.scheduleRenewal();
    const hls = new Hls({
      liveDurationInfinity: true,
      manifestLoadingMaxRetry: 2,
      xhrSetup: (xhr, url) => xhr.open("GET", withToken(url, this.token), true),
    });
    this.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || hls !== this.hls) return;
      const code = data.response && data.response.code;
      let why = data.details;
      if (code === 401 || code === 403) why = "not authorized to watch this camera";
      else if (code === 404) why = "the stream is not available";
      else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) why = "MediaMTX cannot be reached";
      this.fail(`The stream can't play: ${why}.`);
    });
    hls.loadSource(media.streams.hls);
    hls.attachMedia(this.video);
    this.video.play().catch(() => {});
  }

  scheduleRenewal() {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(async () => {
      try {
        const media = await this.session.rpc.call("create_media_token", { camera_id: this.id, ttl_seconds: TOKEN_TTL });
        this.token = media.token;
        this.scheduleRenewal();
      } catch {
        // the next request is refused and the error handler says so
      }
    }, TOKEN_TTL * 800);
  }

  fail(message) {
    this.stop();
    this.setState("error", `${message} Retrying…`);
    this.showSnapshot();
    this.retryTimer = setTimeout(() => this.refresh(), RETRY_MS);
  }

  stop() {
    clearTimeout(this.renewTimer);
    clearTimeout(this.retryTimer);
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    this.video.removeAttribute("src");
    this.video.load();
  }

  // The newest snapshot of the camera, when there is one: a picture beside the reason.
  async showSnapshot() {
    try {
      const listed = await this.session.rpc.call("list_snapshots", { device: this.id, limit: 1 });
      const file = listed.files[0];
      if (!file) return;
      const response = await fetch(file.download_url, { headers: { Authorization: `Bearer ${this.session.credential}` } });
      if (!response.ok) return;
      if (this.snapshotUrl) URL.revokeObjectURL(this.snapshotUrl);
      this.snapshotUrl = URL.createObjectURL(await response.blob());
      this.image.src = this.snapshotUrl;
      this.image.alt = `Latest snapshot of ${this.id} (${file.modified_time})`;
      this.image.hidden = false;
    } catch {
      // no snapshot: the notice alone says why there is no picture
    }
  }

  destroy() {
    this.stop();
    if (this.snapshotUrl) URL.revokeObjectURL(this.snapshotUrl);
  }
}
