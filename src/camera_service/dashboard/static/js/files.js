// What the Recordings and Snapshots views share: the camera/time filters of a listing,
// and download links (docs/api.md "create_download_url"): a URL that carries a token
// good for one file for minutes, so a <video>, an <img> or an <a download> can open it
// without the credential, which never goes in a URL.
import { el } from "/dashboard/js/player.js";

// A link lives as long as the service's default (security.file_links.default_ttl); it is
// asked for again once less than a fifth of that, or a minute, is left.
const RENEW_MS = 60000;

export function size(bytes) {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KiB`;
}

export function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString([], { hour12: false });
}

// The camera select and the from/to inputs of one view (ids `<prefix>-camera`,
// `<prefix>-from`, `<prefix>-to`), as list params; `onChange` runs on every edit.
export class Filters {
  constructor(prefix, onChange) {
    this.camera = document.getElementById(`${prefix}-camera`);
    this.from = document.getElementById(`${prefix}-from`);
    this.to = document.getElementById(`${prefix}-to`);
    for (const input of [this.camera, this.from, this.to]) input.addEventListener("change", onChange);
  }

  cameras(ids) {
    const current = this.camera.value;
    this.camera.replaceChildren(el("option", { value: "" }, "All cameras"));
    for (const id of ids) this.camera.append(el("option", { value: id }, id));
    this.camera.value = ids.includes(current) ? current : "";
  }

  // The params, or a reason in words why there are none.
  params() {
    const params = {};
    if (this.camera.value) params.device = this.camera.value;
    // datetime-local is the browser's local time; the API takes an instant.
    const since = this.from.value ? new Date(this.from.value) : null;
    // "To" a minute means to its end (the input shows no seconds).
    const to = this.to.value.length === 16 ? `${this.to.value}:59.999` : this.to.value;
    const until = to ? new Date(to) : null;
    if (since && Number.isNaN(since.getTime())) return { error: "The “From” time is not a time." };
    if (until && Number.isNaN(until.getTime())) return { error: "The “To” time is not a time." };
    if (since && until && until < since) return { error: "“To” is before “From”: nothing can match." };
    if (since) params.since = since.toISOString();
    if (until) params.until = until.toISOString();
    return { params };
  }

  // Whether a file taken at `iso` by `camera` is within the filters (for live additions).
  admits(camera, iso) {
    const { params } = this.params();
    if (!params) return false;
    const t = new Date(iso);
    if (params.device && params.device !== camera) return false;
    if (params.since && t < new Date(params.since)) return false;
    if (params.until && t > new Date(params.until)) return false;
    return true;
  }
}

// Download links by kind and file name, asked for once and reused while good.
export class Links {
  constructor(session) {
    this.session = session;
    this.cache = new Map();
  }

  async url(kind, filename) {
    const key = `${kind}/${filename}`;
    const kept = this.cache.get(key);
    if (kept && Date.now() < kept.renew) return kept.url;
    const link = await this.session.rpc.call("create_download_url", { kind, filename });
    const until = new Date(link.expires_at).getTime();
    const margin = Math.min(RENEW_MS, (until - Date.now()) / 5);
    this.cache.set(key, { url: link.url, renew: until - margin });
    return link.url;
  }

  forget(kind, filename) {
    this.cache.delete(`${kind}/${filename}`);
  }

  clear() {
    this.cache.clear();
  }

  // Save a file: the browser downloads it from its link (the service says
  // `Content-Disposition: attachment`), streaming it to disk, whatever its size.
  async download(kind, filename) {
    try {
      const a = el("a", { href: await this.url(kind, filename), download: filename, hidden: "" });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) {
      this.session.toast(`Cannot download ${filename}: ${err.message}`);
    }
  }
}
