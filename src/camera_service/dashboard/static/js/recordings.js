// The recordings view: newest first, by camera; play in the page, download, and (for
// operators) delete after a confirmation. Files come from /files/... with the
// credential in a header (never in a URL): a recording is fetched whole into a blob
// the video element plays and seeks in.

const LIMIT = 100;
const MAX_PLAY_BYTES = 512 * 1024 * 1024; // beyond this: download instead

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function size(bytes) {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KiB`;
}

function length(seconds) {
  if (seconds === null || seconds === undefined) return "recording…";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export class Recordings {
  constructor(session) {
    this.session = session;
    this.rows = document.getElementById("recording-rows");
    this.camera = document.getElementById("recording-camera");
    this.video = document.getElementById("playback");
    this.blobUrl = null;
    this.camera.addEventListener("change", () => this.load());
    document.getElementById("recording-refresh").addEventListener("click", () => this.load());
  }

  cameras(ids) {
    const current = this.camera.value;
    this.camera.replaceChildren(el("option", { value: "" }, "All cameras"));
    for (const id of ids) this.camera.append(el("option", { value: id }, id));
    this.camera.value = ids.includes(current) ? current : "";
  }

  async load() {
    const params = { limit: LIMIT };
    if (this.camera.value) params.device = this.camera.value;
    let listed;
    try {
      listed = await this.session.rpc.call("list_recordings", params);
    } catch (err) {
      this.session.toast(`Cannot list recordings: ${err.message}`);
      return;
    }
    this.rows.replaceChildren(...listed.files.map((f) => this.row(f)));
    document.getElementById("recordings-empty").hidden = listed.files.length > 0;
  }

  row(file) {
    const tr = el("tr", { "data-file": file.filename });
    tr.append(
      el("td", {}, file.filename),
      el("td", {}, file.device || "—"),
      el("td", {}, length(file.duration)),
      el("td", {}, size(file.file_size)),
    );
    const actions = el("td");
    const play = el("button", { type: "button", "data-action": "play" }, "Play");
    play.onclick = () => this.play(file);
    const download = el("button", { type: "button", "data-action": "download" }, "Download");
    download.onclick = () => this.download(file);
    actions.append(play, download);
    if (this.session.canControl) {
      const del = el("button", { type: "button", "data-action": "delete" }, "Delete");
      del.onclick = () => this.remove(file);
      actions.append(del);
    }
    tr.append(actions);
    return tr;
  }

  async blob(file) {
    const headers = { Authorization: `Bearer ${this.session.credential}` };
    const response = await fetch(file.download_url, { headers });
    if (!response.ok) throw new Error(`the service answered ${response.status}`);
    return URL.createObjectURL(await response.blob());
  }

  async play(file) {
    if (file.file_size > MAX_PLAY_BYTES) {
      this.session.toast("Too large to play in the page: download it instead.");
      return;
    }
    try {
      const url = await this.blob(file);
      if (this.blobUrl) URL.revokeObjectURL(this.blobUrl);
      this.blobUrl = url;
      this.video.src = url;
      this.video.dataset.file = file.filename;
      this.video.hidden = false;
      await this.video.play();
    } catch (err) {
      this.session.toast(`Cannot play ${file.filename}: ${err.message}`);
    }
  }

  async download(file) {
    try {
      const url = await this.blob(file);
      const a = el("a", { href: url, download: file.filename });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      this.session.toast(`Cannot download ${file.filename}: ${err.message}`);
    }
  }

  async remove(file) {
    if (!confirm(`Delete ${file.filename}? This cannot be undone.`)) return;
    try {
      await this.session.rpc.call("delete_recording", { filename: file.filename });
      this.session.toast(`Deleted ${file.filename}`);
      if (this.video.dataset.file === file.filename) this.stop();
    } catch (err) {
      this.session.toast(`Cannot delete ${file.filename}: ${err.message}`);
    }
    await this.load();
  }

  stop() {
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    this.video.hidden = true;
    if (this.blobUrl) URL.revokeObjectURL(this.blobUrl);
    this.blobUrl = null;
  }
}
