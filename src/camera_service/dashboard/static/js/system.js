// The System view: every component's health with its reason in words (get_health),
// capacity bars, for admins the storage figures and the retention policy (editable),
// and a live feed of the service's notifications, newest first.
import { Discovery } from "/dashboard/js/discovery.js";
import { el } from "/dashboard/js/player.js";

const POLL_MS = 5000;
const FEED_MAX = 200; // entries kept; older ones fall off the end
// What the page's other parts hear by default, and what the feed adds (docs/api.md
// "subscribe_events": a list replaces the default, so the default topics are named too).
const TOPICS = [
  "camera_status_update",
  "recording_status_update",
  "snapshot_taken",
  "storage_status_update",
  "system_status_update",
];
const COMPONENTS = {
  mediamtx: "MediaMTX",
  mediamtx_controller: "Camera paths on MediaMTX",
  camera_monitor: "Cameras (discovery)",
  storage: "Storage",
  websocket_server: "API server",
  registry: "Registry",
  recordings: "Recordings",
  database: "Database",
};
const RESOURCES = {
  usb_cameras: "USB cameras",
  streams: "Streams",
  recordings: "Recordings",
  snapshots: "Snapshot captures",
  connections: "Connections",
};
const LIMITS = { age: ["max_age_days", "Delete media older than (days)"], size: ["max_size_gb", "Keep media under (GiB)"], count: ["max_count", "Keep at most (files)"] };

const $ = (id) => document.getElementById(id);
const label = (table, name) => table[name] || name.replaceAll("_", " ");
const clock = (date) => date.toLocaleTimeString([], { hour12: false });

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export class System {
  constructor(session) {
    this.session = session;
    this.shown = false;
    this.timer = null;
    this.refreshing = null;
    this.entries = [];
    this.lastAt = null; // when the figures shown were read
    this.form = $("retention-form");
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.saveRetention();
    });
    $("retention-type").addEventListener("change", () => this.limitField());
    this.limitField();
    this.discovery = new Discovery(session);
  }

  get isAdmin() {
    return this.session.role === "admin";
  }

  // Each new connection: hear every topic, the default ones included.
  async attach(rpc) {
    for (const topic of TOPICS) rpc.on(topic, (params) => this.onEvent(topic, params));
    try {
      await rpc.call("subscribe_events", { topics: TOPICS });
    } catch (err) {
      this.note("system", `The event feed gets the default topics only: ${err.message}`);
    }
  }

  load() {
    this.shown = true;
    this.discovery.show(this.isAdmin);
    this.refresh();
  }

  stop() {
    this.shown = false;
    clearTimeout(this.timer);
  }

  // Forget the feed (signing out: the next person starts with their own).
  reset() {
    this.stop();
    this.entries = [];
    this.renderFeed();
    $("health").replaceChildren();
    $("capacity").replaceChildren();
    $("storage").replaceChildren();
    $("health-overall").textContent = "Loading…";
    this.form.hidden = true;
    this.discovery.reset();
  }

  refresh() {
    clearTimeout(this.timer);
    if (!this.refreshing) this.refreshing = this.fetchAll().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  async fetchAll() {
    const rpc = this.session.rpc;
    if (!rpc) return;
    try {
      this.renderHealth(await rpc.call("get_health"));
    } catch (err) {
      this.unavailable(`Health is unavailable: ${err.message}`);
    }
    if (this.isAdmin) {
      try {
        this.renderStorage(await rpc.call("get_storage_info"));
      } catch (err) {
        $("storage-note").textContent = `Storage figures are unavailable: ${err.message}`;
        $("storage-note").hidden = false;
      }
    } else {
      this.renderStorage(null);
    }
    if (this.shown && this.session.rpc === rpc) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  unavailable(text) {
    $("health-overall").textContent = text;
    $("health-overall").dataset.status = "unknown";
  }

  // The connection is gone: what is shown stays, marked as of when it was read.
  offline() {
    clearTimeout(this.timer);
    const when = this.lastAt ? ` as of ${clock(this.lastAt)}` : "";
    this.unavailable(`Not connected to the service: the figures below are${when || " old"}, and may have changed.`);
    $("system").dataset.stale = "true";
  }

  renderHealth(health) {
    this.lastAt = new Date();
    delete $("system").dataset.stale;
    const overall = $("health-overall");
    overall.dataset.status = health.status;
    const troubled = Object.values(health.components).filter((c) => c.status !== "healthy").length;
    overall.textContent =
      health.status === "healthy"
        ? "Every component is healthy."
        : `The service is ${health.status}: ${troubled} component${troubled === 1 ? "" : "s"} not healthy.`;
    const rows = Object.entries(health.components).map(([name, c]) => {
      const li = el("li", { class: "component", "data-component": name, "data-status": c.status });
      const why = c.status === "healthy" ? "" : `${c.reason || "no reason given"} (since ${clock(new Date(c.since))})`;
      li.append(el("span", { class: "component-name" }, label(COMPONENTS, name)), el("span", { class: "badge", "data-status": c.status }, c.status), el("span", { class: "reason" }, why));
      return li;
    });
    $("health").replaceChildren(...rows);
    const bars = Object.entries(health.capacity).map(([name, c]) => {
      const row = el("div", { class: "capacity", "data-resource": name });
      const meter = el("meter", { min: "0", max: String(Math.max(c.limit, 1)), value: String(c.active), high: String(Math.max(c.limit - 1, 0)) });
      meter.title = `${c.active} of ${c.limit}`;
      row.append(el("span", { class: "capacity-name" }, label(RESOURCES, name)), meter, el("span", { class: "figures" }, `${c.active} of ${c.limit} in use, ${c.free} free`));
      return row;
    });
    $("capacity").replaceChildren(...bars);
  }

  renderStorage(info) {
    const note = $("storage-note");
    if (!info) {
      $("storage").replaceChildren();
      this.form.hidden = true;
      note.textContent = "Disk figures and the retention policy are shown to admins; the Storage component above says whether the disk is filling up.";
      note.hidden = false;
      return;
    }
    note.hidden = true;
    const disk = el("div", { class: "capacity", "data-resource": "disk" });
    const meter = el("meter", { min: "0", max: "100", value: String(info.used_percent), low: String(info.warn_threshold), high: String(info.block_threshold), optimum: "0" });
    disk.append(
      el("span", { class: "capacity-name" }, "Disk"),
      meter,
      el("span", { class: "figures" }, `${bytes(info.used_space)} of ${bytes(info.total_space)} used (${info.used_percent} %), ${bytes(info.available_space)} free; warn at ${info.warn_threshold} %, new media refused at ${info.block_threshold} %`),
    );
    const dirs = el("dl", { class: "directories" });
    dirs.append(el("dt", {}, "Recordings"), el("dd", { "data-dir": "recordings" }, bytes(info.recordings_size)), el("dt", {}, "Snapshots"), el("dd", { "data-dir": "snapshots" }, bytes(info.snapshots_size)));
    const p = info.retention_policy;
    const policy = el("p", { id: "retention-current" }, `Retention: ${this.describe(p)}${p.enabled ? ", applied periodically" : ", applied only when cleanup is run"} (${p.source === "stored" ? "set by an admin" : "from the configuration"}).`);
    $("storage").replaceChildren(disk, dirs, policy);
    if (this.form.hidden || !this.form.contains(document.activeElement)) this.fillForm(p);
    this.form.hidden = false;
  }

  describe(p) {
    if (p.policy_type === "age") return `delete media older than ${p.max_age_days} days`;
    if (p.policy_type === "size") return `keep media under ${p.max_size_gb} GiB`;
    if (p.policy_type === "count") return `keep at most ${p.max_count} files`;
    return "delete nothing automatically";
  }

  fillForm(p) {
    $("retention-type").value = p.policy_type;
    $("retention-enabled").checked = p.enabled;
    const limit = LIMITS[p.policy_type];
    $("retention-limit").value = limit ? String(p[limit[0]]) : "";
    this.limitField();
  }

  limitField() {
    const limit = LIMITS[$("retention-type").value];
    $("retention-limit-row").hidden = !limit;
    if (limit) $("retention-limit-label").textContent = limit[1];
  }

  async saveRetention() {
    const error = $("retention-error");
    error.hidden = true;
    const type = $("retention-type").value;
    const params = { policy_type: type, enabled: $("retention-enabled").checked };
    const limit = LIMITS[type];
    const raw = $("retention-limit").value.trim();
    // The service validates; a value that is not a number goes as typed so its message names it.
    if (limit && raw !== "") params[limit[0]] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    try {
      const r = await this.session.rpc.call("set_retention_policy", params);
      this.session.toast(r.message);
      this.form.querySelector("button").blur();
      await this.refresh();
    } catch (err) {
      error.textContent = `Not saved: ${err.message}`;
      error.hidden = false;
    }
  }

  onEvent(topic, params) {
    this.note(topic, this.text(topic, params));
    if (this.shown && topic !== "camera_status_update") this.refresh();
  }

  text(topic, p) {
    const camera = p.camera_id || p.device;
    if (topic === "camera_status_update") return `Camera ${camera}: ${p.status}`;
    if (topic === "recording_status_update") {
      const what = { STARTED: "started", STOPPED: "stopped", FAILED: "failed", DEGRADED: "writes nothing", RESUMED: "writes again" }[p.status] || p.status;
      const extra = p.status === "STOPPED" && p.duration != null ? ` after ${Math.round(p.duration)} s` : "";
      return `Recording ${what} on ${camera}${p.filename ? `: ${p.filename}` : ""}${extra}`;
    }
    if (topic === "snapshot_taken") return `Snapshot of ${camera}: ${p.filename}`;
    if (topic === "storage_status_update") return `Storage ${p.status}: ${p.used_percent} % used`;
    if (topic === "system_status_update") return `${label(COMPONENTS, p.component)} is ${p.status}; the service is ${p.overall}`;
    return topic;
  }

  // One feed entry, newest first; `kind` is a topic or "connection" (the page's own).
  note(kind, text) {
    this.entries.unshift({ kind, text, at: new Date() });
    this.entries.length = Math.min(this.entries.length, FEED_MAX);
    this.renderFeed();
  }

  renderFeed() {
    const items = this.entries.map((e) => {
      const li = el("li", { "data-topic": e.kind });
      li.append(el("time", { datetime: e.at.toISOString() }, clock(e.at)), el("span", {}, e.text));
      return li;
    });
    $("events").replaceChildren(...items);
    $("events-empty").hidden = items.length > 0;
  }
}
