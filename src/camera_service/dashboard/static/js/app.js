// The dashboard: sign in, then a live grid of every camera the identity may see.
import { Rpc } from "/dashboard/js/rpc.js";
import { CameraPage, cameraRoute } from "/dashboard/js/camera.js";
import { Recordings } from "/dashboard/js/recordings.js";
import { Snapshots } from "/dashboard/js/snapshots.js";
import { System } from "/dashboard/js/system.js";
import { Tile } from "/dashboard/js/tile.js";

const STORE_KEY = "camera-service.credential"; // sessionStorage only: gone with the tab
const STATUS_POLL_MS = 5000;
// Reconnecting: the n-th wait is drawn from [c/2, c], c = min(cap, base * 2^n), so the
// pages of a restarted hub do not all come back in the same second.
const RECONNECT_BASE_MS = 1000;
const RECONNECT_CAP_MS = 30000;
const $ = (id) => document.getElementById(id);

class Session {
  constructor() {
    this.rpc = null;
    this.credential = null;
    this.role = null;
    this.mediamtxUp = true;
    this.tiles = new Map();
    this.cameraPage = new CameraPage(this); // view "camera": route #/camera/<id>
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), { threshold: 0.1 });
    this.pollTimer = null;
    this.toastTimer = null;
    this.recordings = new Recordings(this);
    this.snapshots = new Snapshots(this);
    this.system = new System(this);
    this.view = "cameras";
    this.reconnecting = null; // {credential, since, attempt, timer} while the service is away
    window.addEventListener("online", () => this.reconnectNow());
  }

  show(view) {
    this.view = view;
    for (const button of document.querySelectorAll("#views button")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === view));
    }
    this.cameraPage.shown(view === "camera");
    $("cameras").hidden = view !== "cameras";
    $("recordings").hidden = view !== "recordings";
    if (view === "recordings") this.recordings.load();
    else this.recordings.stop();
    $("snapshots").hidden = view !== "snapshots";
    if (view === "snapshots") this.snapshots.load();
    else this.snapshots.stop();
    $("system").hidden = view !== "system";
    if (view === "system") this.system.load();
    else this.system.stop();
  }

  get canControl() {
    return this.role === "operator" || this.role === "admin";
  }

  async wsUrl() {
    const response = await fetch("/dashboard/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`the service answered ${response.status}`);
    const conf = await response.json();
    return `${conf.tls ? "wss" : "ws"}://${location.hostname}:${conf.ws_port}${conf.ws_path}`;
  }

  async signIn(credential) {
    this.signOutQuietly();
    const rpc = new Rpc(await this.wsUrl());
    await rpc.open();
    let auth;
    try {
      auth = await rpc.call("authenticate", { auth_token: credential });
    } catch (err) {
      rpc.close();
      throw err;
    }
    this.rpc = rpc;
    this.credential = credential;
    this.role = auth.role;
    sessionStorage.setItem(STORE_KEY, credential);
    rpc.on("camera_status_update", (p) => this.onCamera(p));
    rpc.on("recording_status_update", (p) => this.onRecording(p));
    rpc.on("system_status_update", (p) => this.onSystem(p));
    rpc.onclose = () => this.lost();
    await this.snapshots.attach(rpc);
    await this.system.attach(rpc);
    const expires = auth.expires_at ? `, until ${new Date(auth.expires_at).toLocaleString()}` : "";
    $("identity").textContent = `${auth.role}${expires}`;
    $("identity").hidden = false;
    $("sign-out").hidden = false;
    $("sign-in").hidden = true;
    $("views").hidden = false;
    this.banner(null);
    this.reconnected();
    this.show(this.view);
    await this.pollStatus();
    await this.loadCameras();
    markOnce("dashboard-interactive");
  }

  async loadCameras() {
    const listed = await this.rpc.call("get_camera_list");
    const seen = new Set();
    for (const camera of listed.cameras) {
      seen.add(camera.camera_id);
      this.upsert(camera);
    }
    for (const [id, tile] of this.tiles) if (!seen.has(id)) this.drop(id, tile);
    this.showEmpty();
    this.recordings.cameras([...this.tiles.keys()].sort());
    this.snapshots.cameras([...this.tiles.keys()].sort());
  }

  upsert(camera) {
    let tile = this.tiles.get(camera.camera_id);
    if (tile) {
      tile.update(camera);
      return;
    }
    tile = new Tile(this, camera);
    this.tiles.set(camera.camera_id, tile);
    const grid = $("grid");
    const after = [...grid.children].find((n) => n.dataset.camera > camera.camera_id);
    grid.insertBefore(tile.root, after || null);
    this.observer.observe(tile.root);
  }

  drop(id, tile) {
    this.observer.unobserve(tile.root);
    tile.remove();
    this.tiles.delete(id);
  }

  showEmpty() {
    $("empty").hidden = this.tiles.size > 0;
  }

  onIntersect(entries) {
    for (const entry of entries) {
      const tile = this.tiles.get(entry.target.dataset.camera);
      if (tile) tile.setVisible(entry.isIntersecting);
    }
  }

  onCamera(params) {
    this.cameraPage.onCamera(params);
    if (params.status === "CONNECTED") this.upsert(params);
    else if (this.tiles.has(params.camera_id)) this.tiles.get(params.camera_id).update(params);
    // a camera unplugged for good leaves the list: follow it
    this.loadCameras().catch(() => {});
  }

  onRecording(params) {
    this.cameraPage.onRecording(params);
    if (params.status === "STOPPED" && this.view === "recordings") this.recordings.load();
    const tile = this.tiles.get(params.camera_id);
    if (!tile) return;
    if (params.status === "STARTED") tile.update({ recording: true });
    else if (params.status === "STOPPED" || params.status === "FAILED") tile.update({ recording: false });
  }

  onSystem(params) {
    if (params.component === "mediamtx") this.setMediamtx(params.status !== "unhealthy");
  }

  async pollStatus() {
    clearTimeout(this.pollTimer);
    try {
      const status = await this.rpc.call("get_system_status");
      this.setMediamtx(!/MediaMTX is unreachable/.test(status.message || ""));
    } catch (err) {
      // A credential that expired while connected: sign in again. A lost service is
      // reported by the connection's own close handler.
      if (err.code === -32001) {
        refused(err);
        return;
      }
    }
    if (this.rpc) this.pollTimer = setTimeout(() => this.pollStatus(), STATUS_POLL_MS);
  }

  setMediamtx(up) {
    if (up === this.mediamtxUp) return;
    this.mediamtxUp = up;
    this.banner(up ? null : "MediaMTX is down: live video is unavailable until it is back.");
    for (const tile of this.tiles.values()) tile.refresh();
    this.cameraPage.refresh();
  }

  banner(text, kind = "") {
    $("banner").textContent = text || "";
    $("banner").dataset.kind = kind;
    $("banner").hidden = !text;
  }

  toast(text) {
    clearTimeout(this.toastTimer);
    $("toast").textContent = text;
    $("toast").hidden = false;
    this.toastTimer = setTimeout(() => ($("toast").hidden = true), 6000);
  }

  lost() {
    const credential = this.credential;
    this.signOutQuietly();
    this.reconnect(credential);
  }

  // Try again and again, waiting longer each time (capped, jittered), until the service
  // answers or refuses the credential; the view and its state come back with it.
  reconnect(credential) {
    if (!this.reconnecting) {
      this.reconnecting = { credential, since: new Date(), attempt: 0, timer: null, trying: false };
      this.system.note("connection", "Connection to the service lost");
      this.system.offline();
    }
    $("empty").textContent = "Not connected to the service: the cameras come back when it answers.";
    $("empty").hidden = false;
    const r = this.reconnecting;
    const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** r.attempt);
    const wait = ceiling / 2 + (Math.random() * ceiling) / 2;
    r.attempt += 1;
    const since = r.since.toLocaleTimeString([], { hour12: false });
    const next = Math.max(1, Math.round(wait / 1000));
    const tries = r.attempt > 1 ? `, ${r.attempt - 1} tries so far` : "";
    this.banner(`Not connected to the service since ${since}: reconnecting (next try in ${next} s${tries})…`, "reconnecting");
    clearTimeout(r.timer);
    r.timer = setTimeout(() => this.reconnectNow(), wait);
  }

  reconnectNow() {
    const r = this.reconnecting;
    if (!r || r.trying) return; // one try at a time (the timer and "online" may meet)
    clearTimeout(r.timer);
    r.trying = true;
    start(r.credential, true).finally(() => (r.trying = false));
  }

  reconnected() {
    const r = this.reconnecting;
    $("empty").textContent = "No camera is connected that you may see.";
    if (!r) return;
    clearTimeout(r.timer);
    this.reconnecting = null;
    const away = Math.round((Date.now() - r.since.getTime()) / 1000);
    this.system.note("connection", `Reconnected after ${away} s`);
  }

  signOutQuietly() {
    this.cameraPage.close();
    clearTimeout(this.pollTimer);
    if (this.rpc) this.rpc.close();
    this.rpc = null;
    for (const [id, tile] of this.tiles) this.drop(id, tile);
  }

  signOut() {
    if (this.reconnecting) clearTimeout(this.reconnecting.timer);
    this.reconnecting = null;
    this.signOutQuietly();
    sessionStorage.removeItem(STORE_KEY);
    this.credential = null;
    $("identity").hidden = true;
    $("sign-out").hidden = true;
    $("views").hidden = true;
    $("cameras").hidden = true;
    $("recordings").hidden = true;
    this.recordings.stop();
    $("snapshots").hidden = true;
    this.snapshots.reset();
    $("system").hidden = true;
    this.system.reset();
    this.banner(null);
    showSignIn();
  }
}

const session = new Session();

function showSignIn(message = "") {
  $("camera-page").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("sign-in-error").hidden = !message;
  $("credential").focus();
  markOnce("dashboard-interactive"); // bench/dashboard.py reads it
}

function markOnce(name) {
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
}

function describe(err) {
  if (err.code === -32001) {
    const expired = err.data && err.data.reason === "expired";
    return expired ? "Sign-in failed: the credential has expired." : "Sign-in failed: the API key or token is not valid.";
  }
  return `Sign-in failed: ${err.message}`;
}

// `resume`: the credential was accepted before (this tab's, or a lost connection's), so
// a service that cannot be reached is waited for; only a refused credential, or one
// typed in now, leads to the sign-in form.
async function start(credential, resume = false) {
  try {
    await session.signIn(credential);
  } catch (err) {
    if (resume && err.code !== -32001) session.reconnect(credential);
    else refused(err);
  }
}

function refused(err) {
  if (err.code === -32001) sessionStorage.removeItem(STORE_KEY);
  if (session.reconnecting) clearTimeout(session.reconnecting.timer);
  session.reconnecting = null;
  session.signOutQuietly();
  session.banner(null);
  for (const id of ["views", "cameras", "recordings", "snapshots", "system", "identity", "sign-out"]) $(id).hidden = true;
  showSignIn(describe(err));
}

$("sign-in-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const credential = $("credential").value.trim();
  $("credential").value = "";
  if (credential) start(credential);
});
$("sign-out").addEventListener("click", () => session.signOut());
// "#/camera/<id>" opens that camera's page (a bookmark, a reload, the back button).
function route() {
  const id = cameraRoute(location.hash);
  if (id) session.cameraPage.id = id;
  const view = id ? "camera" : session.view === "camera" ? "cameras" : session.view;
  if (session.rpc) session.show(view);
  else session.view = view;
}
window.addEventListener("hashchange", route);
for (const button of document.querySelectorAll("#views button")) {
  button.addEventListener("click", () => session.show(button.dataset.view));
}

// A link made by `camera-service dashboard-link` carries its token in the fragment,
// which never reaches a server or its logs; it is moved to sessionStorage at once.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(STORE_KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
route();
const stored = sessionStorage.getItem(STORE_KEY);
if (stored) start(stored, true);
else showSignIn();
