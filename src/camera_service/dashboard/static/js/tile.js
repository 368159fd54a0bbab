// One camera tile in the grid: badge, recording dot, facts, the live picture while on
// screen (player.js), and for operators snapshot and record buttons.
import { cameraHref } from "/dashboard/js/camera.js";
import { Player, el } from "/dashboard/js/player.js";

export class Tile {
  constructor(session, camera) {
    this.session = session;
    this.camera = camera;
    this.build();
    this.update(camera);
  }

  get id() {
    return this.camera.camera_id;
  }

  build() {
    this.root = el("article", { class: "tile", "data-camera": this.camera.camera_id });
    this.player = new Player(this.session, this.camera, this.root);
    const head = el("header");
    const heading = el("h2");
    this.title = el("a", { href: cameraHref(this.camera.camera_id), class: "open" }); // the camera's page
    heading.append(this.title);
    this.rec = el("span", { class: "rec", title: "recording", hidden: "" });
    this.badge = el("span", { class: "badge" });
    head.append(heading, this.rec, this.badge);
    this.facts = el("p", { class: "facts" });
    this.root.append(this.player.root, head, this.facts);
    if (this.session.canControl) {
      const actions = el("div", { class: "actions" });
      this.snapButton = el("button", { type: "button", "data-action": "snapshot" }, "Snapshot");
      this.recButton = el("button", { type: "button", "data-action": "record" }, "Record");
      this.snapButton.onclick = () => this.snapshot();
      this.recButton.onclick = () => this.toggleRecording();
      actions.append(this.snapButton, this.recButton);
      this.root.append(actions);
    }
  }

  update(camera) {
    this.camera = { ...this.camera, ...camera };
    const c = this.camera;
    this.title.textContent = c.name || c.camera_id;
    this.title.title = c.device || c.camera_id;
    this.badge.textContent = c.status;
    this.badge.dataset.status = c.status;
    this.rec.hidden = !c.recording;
    const facts = [c.source_type || "camera", c.resolution || "no picture", c.fps ? `${c.fps} fps` : ""];
    this.facts.textContent = facts.filter(Boolean).join(" · ");
    if (this.recButton) {
      this.recButton.textContent = c.recording ? "Stop" : "Record";
      this.recButton.disabled = c.status !== "CONNECTED";
      this.snapButton.disabled = c.status !== "CONNECTED";
    }
    this.player.setCamera(c);
  }

  setVisible(visible) {
    this.player.setVisible(visible);
  }

  refresh() {
    this.player.refresh();
  }

  async snapshot() {
    this.snapButton.disabled = true;
    try {
      const r = await this.session.rpc.call("take_snapshot", { device: this.id });
      this.session.toast(r.success ? `Snapshot saved: ${r.filename}` : `Snapshot failed: ${r.error}`);
    } catch (err) {
      this.session.toast(`Snapshot failed: ${err.message}`);
    } finally {
      this.snapButton.disabled = this.camera.status !== "CONNECTED";
    }
  }

  async toggleRecording() {
    const method = this.camera.recording ? "stop_recording" : "start_recording";
    this.recButton.disabled = true;
    try {
      const r = await this.session.rpc.call(method, { device: this.id });
      this.update({ recording: method === "start_recording" });
      this.session.toast(method === "start_recording" ? `Recording: ${r.filename}` : `Recording stopped (${r.duration} s)`);
    } catch (err) {
      this.session.toast(`${method === "start_recording" ? "Recording" : "Stopping"} failed: ${err.message}`);
    } finally {
      this.recButton.disabled = this.camera.status !== "CONNECTED";
    }
  }

  remove() {
    this.player.destroy();
    this.root.remove();
  }
}
