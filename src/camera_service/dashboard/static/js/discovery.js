// Adding a discovered camera (admins, on the System page): discover_cameras with an
// optional user name and password, each device's profiles, and add_camera of one
// profile's RTSP URI under an id the admin types. The new tile appears in the grid by
// the camera_status_update every client hears of a camera that comes.
import { el } from "/dashboard/js/player.js";

const ID = /^[A-Za-z0-9_-]{1,64}$/; // the service's camera id rule (docs/api.md)
const $ = (id) => document.getElementById(id);

// A default id from a profile's device and name: lower-case letters, digits and dashes.
function suggest(device, profile) {
  const base = [device.model || device.host, profile.name].filter(Boolean).join("-");
  return base.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64) || "camera";
}

export class Discovery {
  constructor(session) {
    this.session = session;
    this.form = $("discovery-form");
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.find();
    });
  }

  // Shown to admins only: the methods are theirs, and what discovery finds too.
  show(isAdmin) {
    $("discovery").hidden = !isAdmin;
  }

  reset() {
    $("discovery").hidden = true;
    $("discovery-results").replaceChildren();
    $("discovery-user").value = "";
    $("discovery-password").value = "";
    this.status("");
  }

  status(text, kind = "empty") {
    const note = $("discovery-note");
    note.className = kind;
    note.textContent = text;
    note.hidden = !text;
  }

  credentials() {
    const username = $("discovery-user").value.trim();
    return username ? { username, password: $("discovery-password").value } : {};
  }

  async find() {
    const button = this.form.querySelector("button");
    button.disabled = true;
    $("discovery-results").replaceChildren();
    this.status("Looking for ONVIF cameras on the hub's networks…");
    try {
      const found = await this.session.rpc.call("discover_cameras", this.credentials());
      this.render(found.devices);
    } catch (err) {
      this.status(`Discovery failed: ${err.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  render(devices) {
    if (!devices.length) {
      this.status("No ONVIF camera answered. Cameras on another network, or with discovery turned off, are not found; add those by URL with add_camera.");
      return;
    }
    this.status(`${devices.length} device${devices.length === 1 ? "" : "s"} found.`);
    $("discovery-results").replaceChildren(...devices.map((d) => this.device(d)));
  }

  device(d) {
    const li = el("li", { class: "discovered", "data-endpoint": d.endpoint });
    const title = [d.manufacturer, d.model].filter(Boolean).join(" ") || "ONVIF device (it did not say its make)";
    li.append(el("strong", {}, title), el("span", { class: "hint" }, ` ${d.host}`));
    if (d.error) {
      li.append(el("p", { class: "error" }, `Its profiles could not be read: ${d.error}`));
      return li;
    }
    const usable = d.profiles.filter((p) => p.rtsp_uri);
    if (!usable.length) {
      li.append(el("p", { class: "empty" }, "It gave no RTSP stream."));
      return li;
    }
    const list = el("ul", { class: "profiles" });
    list.append(...usable.map((p) => this.profile(d, p, title)));
    li.append(list);
    return li;
  }

  profile(device, p, title) {
    const row = el("li", { class: "profile", "data-profile": p.token });
    const size = p.width && p.height ? `${p.width}x${p.height}` : "size unknown";
    row.append(el("span", { class: "profile-name" }, `${p.name} (${size}${p.encoding ? `, ${p.encoding}` : ""})`));
    const form = el("form", { class: "add-discovered" });
    const inputId = `discovered-${device.endpoint}-${p.token}`.replace(/[^A-Za-z0-9_-]/g, "-");
    const label = el("label", { for: inputId }, "Camera id");
    const input = el("input", { id: inputId, type: "text", autocomplete: "off", spellcheck: "false", maxlength: "64" });
    input.value = suggest(device, p);
    const button = el("button", { type: "submit" }, "Add");
    const error = el("p", { class: "error", role: "alert" });
    error.hidden = true;
    form.append(label, input, button, error);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.add(input.value.trim(), `${title} ${p.name}`.slice(0, 128), p.rtsp_uri, form, error);
    });
    row.append(form);
    return row;
  }

  async add(id, name, url, form, error) {
    error.hidden = true;
    if (!ID.test(id)) {
      error.textContent = "A camera id is 1 to 64 letters, digits, dashes or underscores.";
      error.hidden = false;
      return;
    }
    const source = { type: "rtsp", url, ...this.credentials() };
    try {
      await this.session.rpc.call("add_camera", { camera_id: id, name, source });
    } catch (err) {
      error.textContent = `Not added: ${err.message}`;
      error.hidden = false;
      return;
    }
    form.replaceChildren(el("span", { class: "added" }, `Added as ${id}: its tile is in the camera grid.`));
    this.session.toast(`Camera ${id} added`);
  }
}
