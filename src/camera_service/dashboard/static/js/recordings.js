// The recordings view: newest first, filtered by camera and time; play in the page,
// download, and (for operators) delete after a confirmation. The <video> plays a file
// straight from its download link (js/files.js): the browser streams it and seeks
// with Range requests, so a file of any size plays, and no credential is in the URL.
import { el } from "/dashboard/js/player.js";
import { Filters, Links, size, when } from "/dashboard/js/files.js";

const LIMIT = 100;

function length(seconds) {
  if (seconds === null || seconds === undefined) return "recording…";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export class Recordings {
  constructor(session) {
    this.session = session;
    this.rows = document.getElementById("recording-rows");
    this.error = document.getElementById("recordings-error");
    this.count = document.getElementById("recordings-count");
    this.video = document.getElementById("playback");
    this.links = new Links(session);
    this.filters = new Filters("recording", () => this.load());
    this.playing = null; // the file in the player
    this.resumed = 0; // link renewals for the file playing, so a refusal cannot loop
    this.video.addEventListener("error", () => this.onError());
    this.video.addEventListener("playing", () => (this.resumed = 0)); // a renewal worked
    document.getElementById("recording-refresh").addEventListener("click", () => this.load());
  }

  cameras(ids) {
    this.filters.cameras(ids);
  }

  async load() {
    const { params, error } = this.filters.params();
    this.error.textContent = error || "";
    this.error.hidden = !error;
    if (error) {
      this.rows.replaceChildren();
      document.getElementById("recordings-empty").hidden = true;
      this.count.hidden = true;
      return;
    }
    let listed;
    try {
      listed = await this.session.rpc.call("list_recordings", { ...params, limit: LIMIT });
    } catch (err) {
      this.session.toast(`Cannot list recordings: ${err.message}`);
      return;
    }
    this.rows.replaceChildren(...listed.files.map((f) => this.row(f)));
    const empty = document.getElementById("recordings-empty");
    const filtered = params.device || params.since || params.until;
    empty.textContent = filtered ? "No recordings match these filters." : "No recordings.";
    empty.hidden = listed.files.length > 0;
    this.count.textContent = `The newest ${listed.files.length} of ${listed.total}.`;
    this.count.hidden = listed.total <= listed.files.length;
  }

  row(file) {
    const tr = el("tr", { "data-file": file.filename });
    tr.append(
      el("td", {}, file.filename),
      el("td", {}, file.device || "—"),
      el("td", {}, when(file.modified_time)),
      el("td", {}, length(file.duration)),
      el("td", {}, size(file.file_size)),
    );
    const actions = el("td");
    const play = el("button", { type: "button", "data-action": "play" }, "Play");
    play.onclick = () => this.play(file);
    const download = el("button", { type: "button", "data-action": "download" }, "Download");
    download.onclick = () => this.links.download("recording", file.filename);
    actions.append(play, download);
    if (this.session.canControl) {
      const del = el("button", { type: "button", "data-action": "delete" }, "Delete");
      del.onclick = () => this.remove(file);
      actions.append(del);
    }
    tr.append(actions);
    return tr;
  }

  async play(file, at = 0) {
    if (file.filename.toLowerCase().endsWith(".ts") && !this.video.canPlayType("video/mp2t")) {
      this.session.toast(`This browser cannot play MPEG-TS recordings: download ${file.filename} instead.`);
      return;
    }
    try {
      const url = await this.links.url("recording", file.filename);
      if (this.playing !== file.filename) this.resumed = 0;
      this.playing = file.filename;
      this.video.src = url;
      this.video.dataset.file = file.filename;
      this.video.hidden = false;
      if (at) this.video.currentTime = at;
      await this.video.play();
    } catch (err) {
      if (err.name === "AbortError") return; // a newer play() took over
      this.session.toast(`Cannot play ${file.filename}: ${err.message}`);
    }
  }

  // The player was refused or cut off mid-file (most likely its link expired): again
  // with a new link, from where it was; once only until it plays again.
  onError() {
    const name = this.playing;
    if (!name || !this.video.getAttribute("src")) return;
    this.links.forget("recording", name);
    if (this.resumed >= 1) {
      const why = this.video.error && this.video.error.code === MediaError.MEDIA_ERR_DECODE
        ? "the browser cannot decode it"
        : "the browser cannot play it, or the service refused it";
      this.session.toast(`Cannot play ${name}: ${why}. Download it instead.`);
      return;
    }
    this.resumed += 1;
    this.play({ filename: name }, this.video.currentTime || 0);
  }

  async remove(file) {
    if (!confirm(`Delete ${file.filename}? This cannot be undone.`)) return;
    try {
      await this.session.rpc.call("delete_recording", { filename: file.filename });
      this.session.toast(`Deleted ${file.filename}`);
      if (this.video.dataset.file === file.filename) this.stop();
      this.links.forget("recording", file.filename);
    } catch (err) {
      this.session.toast(`Cannot delete ${file.filename}: ${err.message}`);
    }
    await this.load();
  }

  stop() {
    this.playing = null;
    this.video.pause();
    this.video.removeAttribute("src");
    delete this.video.dataset.file;
    this.video.load();
    this.video.hidden = true;
    this.links.clear(); // links belong to the identity that asked: none kept past it
  }
}
