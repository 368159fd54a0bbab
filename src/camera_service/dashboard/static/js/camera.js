// One camera's page (route "#/camera/<id>"): the live picture large (player.js), stream
// metrics polled while the page is open, capabilities, the stream URLs to copy, and for
// operators a snapshot and a recording, each with its result in words.
import { Player, el } from "/dashboard/js/player.js";

const POLL_MS = 2000;
const LOG_LINES = 8;
const ROUTE = /^#\/camera\/([^/?#]+)$/;
const $ = (id) => document.getElementById(id);

// The camera id a fragment routes to, or null (the grid, a sign-in link's "#token=").
export function cameraRoute(hash) {
  const m = ROUTE.exec(hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

export function cameraHref(id) {
  return `#/camera/${encodeURIComponent(id)}`;
}

function bytes(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function bitrate(bits) {
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(2)} Mbit/s`;
  if (bits >= 1e3) return `${Math.round(bits / 1e3)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
}

function seconds(s) {
  const r = Math.round(s);
  return r >= 60 ? `${Math.floor(r / 60)} min ${r % 60} s` : `${r} s`;
}

const ENDED = {
  requested: "stopped on request",
  duration: "its duration was reached",
  unplugged: "the camera was unplugged",
  mediamtx_restarted: "MediaMTX restarted or could not be reached",
  shutdown: "the service shut down",
  interrupted: "the service was restarted meanwhile",
};

// An error from the service in words (docs/api.md, each method's error table).
function why(err) {
  const d = err.data || {};
  switch (err.code) {
    case -1000:
      return "the camera is not connected";
    case -1006:
      return "the camera is already recording";
    case -1012:
      return `the service is at its limit of ${d.resource || "resources"} (${d.active ?? "?"} of ${d.limit ?? "?"}): try again shortly`;
    case -1010:
      return "the disk is full (block threshold reached)";
    case -1008:
      return "the disk is nearly full (warning threshold reached)";
    case -32003:
      return "your role may not do this";
    default:
      return err.message || String(err);
  }
}

export class CameraPage {
  constructor(session) {
    this.session = session;
    this.id = null;
    this.camera = null;
    this.player = null;
    this.timer = null;
    this.generation = 0; // answers for a page closed meanwhile are dropped
    this.duration = null; // requested seconds of the running recording, when known
    this.snapshotUrl = null;
  }

  // Operators only: a viewer's page has no such buttons at all (the server refuses anyway).
  controls() {
    const box = $("camera-controls");
    box.hidden = !this.session.canControl;
    if (!this.session.canControl) {
      box.replaceChildren();
      return;
    }
    const snap = el("button", { id: "camera-snapshot", type: "button", "data-action": "snapshot" }, "Take snapshot");
    snap.onclick = () => this.snapshot();
    const snapRow = el("div", { class: "actions" });
    snapRow.append(snap);
    const form = el("form", { id: "camera-record-form", class: "actions", novalidate: "" }); // our words, not the bubble
    const duration = el("input", {
      id: "camera-duration",
      type: "number",
      min: "1",
      max: "86400",
      step: "1",
      inputmode: "numeric",
      placeholder: "until stopped",
    });
    const start = el("button", { id: "camera-start", type: "submit", "data-action": "record" }, "Start recording");
    const stop = el("button", { id: "camera-stop", type: "button", "data-action": "stop" }, "Stop");
    stop.onclick = () => this.stopRecording();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.startRecording();
    });
    form.append(el("label", { for: "camera-duration" }, "Duration (s)"), duration, start, stop);
    box.replaceChildren(
      el("h3", {}, "Snapshot and recording"),
      snapRow,
      el("p", { id: "camera-snapshot-result", class: "result", role: "status", hidden: "" }),
      el("img", { id: "camera-snapshot-image", class: "camera-snapshot", alt: "", hidden: "" }),
      form,
    );
  }

  // The operator's buttons, when there are any.
  enable(id, on) {
    const button = $(id);
    if (button) button.disabled = !on;
  }

  get active() {
    return this.player !== null;
  }

  // The page shown (the view is "camera") or not; leaving it leaves its route too.
  shown(on) {
    $("camera-page").hidden = !on;
    if (!on) {
      this.close();
      if (cameraRoute(location.hash)) history.replaceState(null, "", location.pathname + location.search);
      return;
    }
    const cameras = document.querySelector('#views button[data-view="cameras"]');
    if (cameras) cameras.setAttribute("aria-pressed", "true");
    this.open(this.id);
  }

  open(id) {
    this.close();
    this.id = id;
    const gen = this.generation;
    this.camera = { camera_id: id, status: "UNKNOWN", streams: {} };
    $("camera-title").textContent = id;
    this.controls();
    this.say("camera-record-result", "");
    $("camera-record-log").replaceChildren();
    $("camera-metrics").replaceChildren();
    $("camera-capabilities").replaceChildren(el("p", { class: "empty" }, "Loading…"));
    $("camera-urls").replaceChildren();
    const live = $("camera-live");
    this.player = new Player(this.session, this.camera, live);
    live.replaceChildren(this.player.root);
    this.player.setState("loading", "Loading the camera…");
    this.render();
    this.loadCapabilities(gen);
    this.poll(gen, true);
  }

  close() {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.player) {
      this.player.destroy();
      this.player.root.remove();
      this.player = null;
    }
    if (this.snapshotUrl) URL.revokeObjectURL(this.snapshotUrl);
    this.snapshotUrl = null;
    this.duration = null;
    // Seen only while the connection is being recovered (else the page is hidden or reopened).
    $("camera-live").replaceChildren(el("p", { class: "notice" }, "Not connected to the service: the picture comes back when it answers."));
    for (const id of ["camera-snapshot", "camera-start", "camera-stop"]) this.enable(id, false);
  }

  // Metrics and the camera's state now, then again every POLL_MS while open.
  async poll(gen, first = false) {
    const rpc = this.session.rpc;
    if (!rpc) return;
    const device = this.id;
    try {
      const [status, stream] = await Promise.all([
        rpc.call("get_camera_status", { device }),
        rpc.call("get_stream_status", { device }).catch((err) => (err.code === -1000 ? null : Promise.reject(err))),
      ]);
      if (gen !== this.generation) return;
      if (status.recording) this.duration = status.recording_duration || null;
      this.setCamera(status);
      this.metrics(status, stream);
      if (first) this.urls();
    } catch (err) {
      if (gen !== this.generation) return;
      if (first) {
        this.player.setState("error", `This camera can't be shown: ${why(err)}.`);
        this.note(`This camera can't be shown: ${why(err)}.`);
        return; // a malformed id stays malformed: no polling
      }
      this.note(`Stream figures could not be read: ${why(err)}.`);
    }
    if (gen === this.generation) this.timer = setTimeout(() => this.poll(gen), POLL_MS);
  }

  async loadCapabilities(gen) {
    const box = $("camera-capabilities");
    let caps;
    try {
      caps = await this.session.rpc.call("get_camera_capabilities", { device: this.id });
    } catch (err) {
      if (gen === this.generation) box.replaceChildren(el("p", { class: "error" }, `Capabilities unavailable: ${why(err)}.`));
      return;
    }
    if (gen !== this.generation) return;
    const rows = [];
    const row = (name, value) => rows.push(el("dt", {}, name), el("dd", { "data-capability": name }, value || "—"));
    row("Formats", caps.formats.join(", "));
    const byRes = caps.fps_by_resolution || {};
    const sizes = caps.resolutions.map((r) => (byRes[r] && byRes[r].length ? `${r} (${byRes[r].join(", ")} fps)` : r));
    row("Resolutions", sizes.join(", "));
    row("Frame rates", caps.fps_options.map((f) => `${f} fps`).join(", "));
    const validation = {
      confirmed: "probed and confirmed",
      provisional: "not probed yet",
      disconnected: "camera disconnected",
      error: "probing failed",
    };
    row("Validation", validation[caps.validation_status] || caps.validation_status);
    const dl = el("dl", { class: "pairs" });
    dl.append(...rows);
    box.replaceChildren(dl);
  }

  setCamera(camera) {
    this.camera = { ...this.camera, ...camera };
    if (this.player) {
      this.player.setCamera(this.camera); // starts or stops the stream as the status changes
      this.player.setVisible(true);
    }
    this.render();
  }

  // The header, the state note, the operator buttons and the recording line.
  render() {
    const c = this.camera;
    $("camera-title").textContent = c.name && c.name !== c.camera_id ? `${c.name} (${c.camera_id})` : c.camera_id;
    $("camera-badge").textContent = c.status;
    $("camera-badge").dataset.status = c.status;
    $("camera-rec").hidden = !c.recording;
    const facts = [c.source_type, c.resolution, c.fps ? `${c.fps} fps` : ""].filter(Boolean);
    $("camera-facts").textContent = facts.join(" · ");
    const connected = c.status === "CONNECTED";
    if (c.status === "UNKNOWN") this.note("");
    else if (!connected) this.note(`Camera ${c.camera_id} is disconnected (or not one you may see): no live picture, snapshot or recording until it is back.`);
    else if (!this.session.mediamtxUp) this.note("MediaMTX is down: live video and stream figures are unavailable until it is back.");
    else this.note("");
    this.enable("camera-snapshot", connected);
    this.enable("camera-start", connected && !c.recording);
    this.enable("camera-stop", Boolean(c.recording));
    this.recordingLine();
  }

  recordingLine() {
    const c = this.camera;
    let text = "Not recording.";
    if (c.recording) {
      const file = c.current_file || c.filename || "";
      const elapsed = typeof c.elapsed_time === "number" ? `, ${seconds(c.elapsed_time)} so far` : "";
      const ends = this.duration ? ` of ${seconds(this.duration)}, then it ends by itself` : ", until stopped";
      if (c.recording_state === "starting") text = `Recording is starting${ends}…`;
      else if (c.recording_state === "degraded") text = `Recording ${file}, but nothing is being written (${c.recording_reason === "storage_full" ? "the disk is full" : "the recorder stalled"}).`;
      else text = `Recording ${file}${elapsed}${ends}.`;
    }
    $("camera-recording").textContent = text;
    $("camera-recording").dataset.recording = String(Boolean(c.recording));
  }

  metrics(status, stream) {
    const m = (stream && stream.metrics) || {};
    const path = (stream && stream.mediamtx_path) || {};
    const states = {
      ACTIVE: "active",
      STARTING: "starting",
      STOPPING: "stopping (nobody reads it)",
      INACTIVE: "idle (starts when someone watches)",
      ERROR: this.session.mediamtxUp ? "unavailable (camera not connected)" : "unavailable (MediaMTX is down)",
    };
    const figures = [
      ["Stream", "stream", stream ? states[stream.status] || stream.status : "—"],
      ["Readers", "readers", String(path.readers ?? status.metrics.readers ?? 0)],
      ["Bitrate", "bitrate", bitrate(m.bitrate || 0)],
      ["Bytes sent", "bytes_sent", bytes(m.bytes_sent ?? status.metrics.bytes_sent ?? 0)],
      ["Frame rate", "fps", m.fps ? `${m.fps} fps` : "—"],
      ["Up since", "start_time", stream && stream.start_time ? new Date(stream.start_time).toLocaleTimeString() : "—"],
    ];
    const dl = el("dl", { class: "pairs" });
    for (const [name, key, value] of figures) {
      const dd = el("dd", { "data-metric": key }, value);
      if (key === "readers") dd.dataset.value = String(path.readers ?? status.metrics.readers ?? 0);
      if (key === "bytes_sent") dd.dataset.value = String(m.bytes_sent ?? status.metrics.bytes_sent ?? 0);
      dl.append(el("dt", {}, name), dd);
    }
    $("camera-metrics").replaceChildren(dl);
  }

  // The camera's stream URLs as every result gives them: without a credential.
  urls() {
    const names = { rtsp: "RTSP", webrtc: "WebRTC", hls: "HLS" };
    const items = [];
    for (const [kind, label] of Object.entries(names)) {
      const url = (this.camera.streams || {})[kind];
      if (!url) continue;
      const input = el("input", { type: "text", readonly: "", value: url, "aria-label": `${label} URL`, "data-url": kind });
      const copy = el("button", { type: "button", class: "copy", "data-copy": kind }, "Copy");
      copy.onclick = () => this.copy(input, copy);
      const item = el("li");
      item.append(el("span", { class: "kind" }, label), input, copy);
      items.push(item);
    }
    if (items.length === 0) items.push(el("li", { class: "empty" }, "No stream URLs while the camera is not connected."));
    $("camera-urls").replaceChildren(...items);
  }

  async copy(input, button) {
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = "Copied";
    } catch {
      // no clipboard permission: leave the text selected for Ctrl+C
      input.select();
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => (button.textContent = "Copy"), 2500);
  }

  note(text) {
    $("camera-note").textContent = text;
    $("camera-note").hidden = !text;
  }

  say(id, text, error = false) {
    $(id).textContent = text;
    $(id).hidden = !text;
    $(id).classList.toggle("error", error);
    if (id !== "camera-record-result" || !text) return;
    // Every outcome stays readable for a while: a short recording's start and end both.
    const log = $("camera-record-log");
    const item = el("li", {}, `${new Date().toLocaleTimeString()} ${text}`);
    if (error) item.classList.add("error");
    log.prepend(item);
    while (log.children.length > LOG_LINES) log.lastChild.remove();
  }

  refresh() {
    if (!this.player) return;
    this.player.refresh();
    this.render();
  }

  onCamera(params) {
    if (this.player && params.camera_id === this.id) {
      const first = !this.camera.streams || Object.keys(this.camera.streams).length === 0;
      this.setCamera(params);
      if (first || params.status !== "CONNECTED") this.urls();
    }
  }

  onRecording(p) {
    if (!this.player || p.camera_id !== this.id) return;
    if (p.status === "STARTED") {
      this.duration = p.duration || null;
      this.camera = { ...this.camera, recording: true, current_file: p.filename, recording_state: "recording", elapsed_time: 0 };
      const ends = p.duration ? `, ends by itself after ${seconds(p.duration)}` : ", until stopped";
      this.say("camera-record-result", `Recording started: ${p.filename}${ends}.`);
    } else if (p.status === "STOPPED") {
      this.duration = null;
      this.camera = { ...this.camera, recording: false, recording_state: null, elapsed_time: null };
      const files = (p.files || [p.filename]).join(", ");
      const size = p.file_size ? `, ${bytes(p.file_size)}` : "";
      const reason = ENDED[p.reason] ? ` (${ENDED[p.reason]})` : "";
      this.say("camera-record-result", `Recording finished: ${files}, ${(p.duration || 0).toFixed(1)} s${size}${reason}.`);
    } else if (p.status === "FAILED") {
      this.duration = null;
      this.camera = { ...this.camera, recording: false, recording_state: null };
      this.say("camera-record-result", `Recording failed: ${p.error || p.reason}.`, true);
    } else if (p.status === "DEGRADED") {
      this.camera = { ...this.camera, recording_state: "degraded", recording_reason: p.reason };
      this.say("camera-record-result", `Recording interrupted: ${p.error}.`, true);
    } else if (p.status === "RESUMED") {
      this.camera = { ...this.camera, recording: true, recording_state: "recording", current_file: p.current_file };
      this.say("camera-record-result", `Recording resumed: ${p.current_file}.`);
    }
    this.render();
  }

  async snapshot() {
    const gen = this.generation;
    this.enable("camera-snapshot", false);
    this.say("camera-snapshot-result", "Taking a snapshot…");
    try {
      const r = await this.session.rpc.call("take_snapshot", { device: this.id });
      if (gen !== this.generation) return;
      if (!r.success) {
        this.say("camera-snapshot-result", `Snapshot failed: ${r.error}.`, true);
        return;
      }
      this.say("camera-snapshot-result", `Snapshot saved: ${r.filename} · ${r.resolution} · ${bytes(r.file_size)} · ${r.source}, ${r.capture_time_ms} ms`);
      const response = await fetch(r.download_url, { headers: { Authorization: `Bearer ${this.session.credential}` } });
      if (!response.ok) throw new Error(`the picture could not be fetched (the service answered ${response.status})`);
      const url = URL.createObjectURL(await response.blob());
      if (gen !== this.generation) return URL.revokeObjectURL(url);
      if (this.snapshotUrl) URL.revokeObjectURL(this.snapshotUrl);
      this.snapshotUrl = url;
      const img = $("camera-snapshot-image");
      img.src = url;
      img.alt = `Snapshot ${r.filename}`;
      img.dataset.file = r.filename;
      img.hidden = false;
    } catch (err) {
      if (gen === this.generation) this.say("camera-snapshot-result", `Snapshot failed: ${why(err)}.`, true);
    } finally {
      if (gen === this.generation) this.enable("camera-snapshot", this.camera.status === "CONNECTED");
    }
  }

  async startRecording() {
    const gen = this.generation;
    const raw = $("camera-duration").value.trim();
    const params = { device: this.id };
    if (raw) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1 || n > 86400) {
        this.say("camera-record-result", "Duration: a whole number of seconds from 1 to 86400, or empty to record until stopped.", true);
        return;
      }
      params.duration_seconds = n;
    }
    this.enable("camera-start", false);
    try {
      const r = await this.session.rpc.call("start_recording", params);
      if (gen !== this.generation) return;
      this.duration = r.duration || null;
      this.camera = { ...this.camera, recording: true, recording_state: this.camera.recording_state || "starting", current_file: r.filename };
      const ends = r.duration ? `for ${seconds(r.duration)}` : "until stopped";
      // The STARTED notification follows (after this reply) with the file's real name.
      this.say("camera-record-result", `Recording ${r.filename} ${ends}…`);
    } catch (err) {
      if (gen === this.generation) this.say("camera-record-result", `Recording could not start: ${why(err)}.`, true);
    } finally {
      if (gen === this.generation) this.render();
    }
  }

  async stopRecording() {
    const gen = this.generation;
    this.enable("camera-stop", false);
    try {
      const r = await this.session.rpc.call("stop_recording", { device: this.id });
      if (gen !== this.generation) return;
      this.camera = { ...this.camera, recording: false };
      this.say("camera-record-result", `Recording stopped after ${seconds(r.duration || 0)}: ${r.filename}; finishing the file…`);
    } catch (err) {
      if (gen === this.generation) this.say("camera-record-result", `Recording could not be stopped: ${why(err)}.`, true);
    } finally {
      if (gen === this.generation) this.render();
    }
  }
}
