// The snapshots view: a gallery, newest first, filtered by camera and time, that
// follows `snapshot_taken`; open one large, download it, and (for operators) delete it
// after a confirmation. Thumbnails are fetched with the credential in a header (small
// files, and no method call each); a download goes through its link (js/files.js).
import { el } from "/dashboard/js/player.js";
import { Filters, Links, size, when } from "/dashboard/js/files.js";

const PAGE = 24;
// What the rest of the page hears by default, and this view's topic on top (docs/api.md
// "subscribe_events": a list replaces the default, so the default topics are named too).
const TOPICS = ["camera_status_update", "recording_status_update", "snapshot_taken"];

export class Snapshots {
  constructor(session) {
    this.session = session;
    this.grid = document.getElementById("snapshot-grid");
    this.error = document.getElementById("snapshots-error");
    this.empty = document.getElementById("snapshots-empty");
    this.more = document.getElementById("snapshot-more");
    this.viewer = document.getElementById("snapshot-viewer");
    this.large = document.getElementById("snapshot-large");
    this.caption = document.getElementById("snapshot-caption");
    this.links = new Links(session);
    this.filters = new Filters("snapshot", () => this.load());
    this.images = new Map(); // file name -> blob URL of its picture
    this.shown = 0; // files in the gallery
    this.total = 0;
    this.generation = 0; // a reload makes older pages' answers stale
    this.open = null; // the file in the viewer
    this.more.addEventListener("click", () => this.page());
    document.getElementById("snapshot-refresh").addEventListener("click", () => this.load());
    document.getElementById("snapshot-viewer-close").addEventListener("click", () => this.viewer.close());
    document.getElementById("snapshot-viewer-download").addEventListener("click", () => {
      if (this.open) this.links.download("snapshot", this.open.filename);
    });
    this.viewer.addEventListener("close", () => (this.open = null));
  }

  // A new connection: hear of new snapshots on it.
  async attach(rpc) {
    rpc.on("snapshot_taken", (p) => this.onTaken(p));
    try {
      await rpc.call("subscribe_events", { topics: TOPICS });
    } catch (err) {
      this.session.toast(`New snapshots will not appear by themselves: ${err.message}`);
    }
  }

  cameras(ids) {
    this.filters.cameras(ids);
  }

  async load() {
    this.generation += 1;
    this.clear();
    const { error } = this.filters.params();
    this.error.textContent = error || "";
    this.error.hidden = !error;
    if (error) return;
    await this.page();
  }

  async page() {
    const { params } = this.filters.params();
    if (!params) return;
    const generation = this.generation;
    let listed;
    try {
      listed = await this.session.rpc.call("list_snapshots", { ...params, limit: PAGE, offset: this.shown });
    } catch (err) {
      this.session.toast(`Cannot list snapshots: ${err.message}`);
      return;
    }
    if (generation !== this.generation) return;
    for (const file of listed.files) this.grid.append(this.thumb(file));
    this.shown += listed.files.length;
    this.total = listed.total;
    this.showState(params);
  }

  showState(params = this.filters.params().params || {}) {
    const filtered = params.device || params.since || params.until;
    this.empty.textContent = filtered ? "No snapshots match these filters." : "No snapshots.";
    this.empty.hidden = this.grid.children.length > 0;
    this.more.hidden = this.shown >= this.total;
    this.more.textContent = `Show more (${this.total - this.shown} older)`;
  }

  thumb(file) {
    const figure = el("figure", { class: "thumb", "data-file": file.filename });
    const image = el("img", { alt: `Snapshot ${file.filename}`, loading: "lazy" });
    const picture = el("button", { type: "button", class: "picture", "data-action": "open", title: "Open" });
    picture.append(image);
    picture.onclick = () => this.show(file);
    const caption = el("figcaption");
    caption.append(el("strong", {}, file.device || "—"), el("span", {}, when(file.modified_time)), el("span", {}, size(file.file_size)));
    const actions = el("div", { class: "actions" });
    const download = el("button", { type: "button", "data-action": "download" }, "Download");
    download.onclick = () => this.links.download("snapshot", file.filename);
    actions.append(download);
    if (this.session.canControl) {
      const del = el("button", { type: "button", "data-action": "delete" }, "Delete");
      del.onclick = () => this.remove(file);
      actions.append(del);
    }
    figure.append(picture, caption, actions);
    this.picture(file, image, figure);
    return figure;
  }

  async picture(file, image, figure) {
    try {
      const response = await fetch(file.download_url, { headers: { Authorization: `Bearer ${this.session.credential}` } });
      if (!response.ok) throw new Error(`the service answered ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      if (!figure.isConnected) {
        URL.revokeObjectURL(url);
        return;
      }
      this.images.set(file.filename, url);
      image.src = url;
    } catch (err) {
      figure.dataset.state = "error";
      image.replaceWith(el("span", { class: "notice" }, `No picture: ${err.message}`));
    }
  }

  show(file) {
    const url = this.images.get(file.filename);
    if (!url) {
      this.session.toast(`${file.filename} is still loading.`);
      return;
    }
    this.open = file;
    this.large.src = url;
    this.large.alt = `Snapshot ${file.filename}`;
    this.caption.textContent = `${file.filename} — ${file.device || "—"}, ${when(file.modified_time)}`;
    if (!this.viewer.open) this.viewer.showModal();
  }

  // A snapshot was just taken: first in the gallery, when the filters admit it.
  onTaken(p) {
    if (!this.filters.admits(p.camera_id, p.timestamp)) return;
    if (this.grid.querySelector(`[data-file="${CSS.escape(p.filename)}"]`)) return;
    const file = {
      filename: p.filename,
      device: p.device || p.camera_id,
      modified_time: p.timestamp,
      file_size: p.file_size,
      download_url: `/files/snapshots/${encodeURIComponent(p.filename)}`,
    };
    this.grid.prepend(this.thumb(file));
    this.shown += 1;
    this.total += 1;
    this.showState();
  }

  async remove(file) {
    if (!confirm(`Delete ${file.filename}? This cannot be undone.`)) return;
    try {
      await this.session.rpc.call("delete_snapshot", { filename: file.filename });
      this.session.toast(`Deleted ${file.filename}`);
    } catch (err) {
      this.session.toast(`Cannot delete ${file.filename}: ${err.message}`);
      return;
    }
    if (this.open && this.open.filename === file.filename) this.viewer.close();
    this.links.forget("snapshot", file.filename);
    const figure = this.grid.querySelector(`[data-file="${CSS.escape(file.filename)}"]`);
    if (figure) {
      figure.remove();
      this.shown -= 1;
    }
    this.total -= 1;
    const url = this.images.get(file.filename);
    if (url) URL.revokeObjectURL(url);
    this.images.delete(file.filename);
    this.showState();
  }

  clear() {
    if (this.viewer.open) this.viewer.close();
    for (const url of this.images.values()) URL.revokeObjectURL(url);
    this.images.clear();
    this.grid.replaceChildren();
    this.shown = 0;
    this.total = 0;
    this.empty.hidden = true;
    this.more.hidden = true;
  }

  stop() {
    if (this.viewer.open) this.viewer.close();
  }

  reset() {
    this.generation += 1;
    this.clear();
    this.links.clear();
  }
}
