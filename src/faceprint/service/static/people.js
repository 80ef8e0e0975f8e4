// faceprint People page: the photo library in the browser. Plain JavaScript, same origin only;
// the API key is kept in sessionStorage (shared with the admin page); images are fetched with it
// and shown as blob: URLs, so nothing is loaded from anywhere but this server.
"use strict";
const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem("faceprint-key") || "";
const PAGE = 60;
let peopleShown = 0;
let current = null; // the person shown on the person view
let polling = null;

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + key }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = (body && body.error) || { code: String(response.status), message: response.statusText };
    const e = new Error(err.code + ": " + err.message);
    e.status = response.status;
    throw e;
  }
  return body;
}

function send(path, method, body) {
  return api(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

// Images need the key: fetch them, show them as blob URLs (freed when replaced).
async function image(img, url) {
  try {
    let response;
    for (let attempt = 0; attempt < 5; attempt++) {
      response = await fetch(url, { headers: { Authorization: "Bearer " + key } });
      if (response.status !== 429) break;
      const wait = Number(response.headers.get("Retry-After") || "1"); // the key's rate limit: wait, retry
      await new Promise((done) => setTimeout(done, 1000 * Math.min(10, Math.max(1, wait))));
    }
    if (!response.ok) { img.dataset.missing = String(response.status); return; }
    const blob = await response.blob();
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    img.dataset.loaded = "1";
  } catch (e) { img.dataset.missing = "error"; }
}

function thumb(faceId, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  img.width = 120; img.height = 120;
  if (faceId) image(img, "/v1/library/faces/" + faceId + "/thumbnail?size=160");
  return img;
}

function label(person) {
  return person.name || "#" + person.id;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- log in ---------------------------------------------------------------------------------------

async function login(candidate) {
  key = candidate;
  try {
    const me = await api("/v1/key");
    sessionStorage.setItem("faceprint-key", key);
    $("who").textContent = me.name;
    $("login").hidden = true;
    $("app").hidden = false;
    $("nav").hidden = false;
    $("logout").hidden = false;
    status("logged in as " + me.name);
    await Promise.all([route(), loadStats(true), watchJob()]);
  } catch (e) {
    key = "";
    sessionStorage.removeItem("faceprint-key");
    status(e.message, true);
  }
}

async function loadStats(fillFolder = false) {
  const st = await api("/v1/library/stats");
  $("stats").textContent = st.photos + " photos, " + st.faces + " faces, " + st.people + " people, " +
    st.unassigned + " faces in no one";
  if (fillFolder && !$("folder").value && st.roots.length) $("folder").value = st.roots[0];
}

// -- the indexing job -----------------------------------------------------------------------------

function showJob(job) {
  const bar = $("progress");
  const running = job.state === "running";
  bar.hidden = false;
  bar.max = job.total || 1;
  bar.value = job.total ? job.done : 0;
  $("index-cancel").hidden = !running;
  $("index-start").disabled = running;
  let text = "index job " + job.id + ": " + job.state;
  if (running) text += " (" + job.phase + ", " + job.done + (job.total === null ? "" : " of " + job.total) + " files)";
  if (job.state === "done") text += ": " + job.indexed + " new photos, " + job.faces + " faces, " + job.people + " people";
  if (job.error) text += " (" + job.error + ")";
  $("job").textContent = text;
  $("job").dataset.state = job.state;
}

async function watchJob() {
  let job;
  try { job = await api("/v1/library/index"); } catch (e) { if (e.status === 404) return; throw e; }
  showJob(job);
  if (job.state === "running" && !polling) {
    polling = setInterval(async () => {
      try {
        const j = await api("/v1/library/index");
        showJob(j);
        if (j.state !== "running") {
          clearInterval(polling); polling = null;
          await loadStats();
          route();
        }
      } catch (e) { status(e.message, true); }
    }, 500);
  }
}

// -- views ------------------------------------------------------------------------------------------

function show(view) {
  for (const id of ["view-people", "view-person", "view-photo", "view-review"]) $(id).hidden = id !== view;
}

function route() {
  const hash = location.hash || "#/";
  let m;
  if ((m = hash.match(/^#\/person\/(\d+)$/))) return openPerson(Number(m[1])).catch((e) => status(e.message, true));
  if ((m = hash.match(/^#\/photo\/(\d+)$/))) return openPhoto(Number(m[1])).catch((e) => status(e.message, true));
  if (hash === "#/review") return openReview().catch((e) => status(e.message, true));
  return openPeople().catch((e) => status(e.message, true));
}

async function openPeople() {
  show("view-people");
  $("grid").replaceChildren();
  peopleShown = 0;
  await morePeople();
}

async function morePeople() {
  const r = await api("/v1/library/people?limit=" + PAGE + "&offset=" + peopleShown + "&unnamed=" + $("unnamed").value);
  $("people-total").textContent = "(" + r.total + ")";
  for (const p of r.people) $("grid").appendChild(personCard(p));
  peopleShown += r.people.length;
  $("more").hidden = peopleShown >= r.total;
}

function personCard(p) {
  const li = el("li", "person");
  li.dataset.person = p.id;
  li.draggable = true;
  const a = el("a");
  a.href = "#/person/" + p.id;
  a.appendChild(thumb(p.cover, label(p)));
  a.appendChild(el("div", "name", label(p)));
  a.appendChild(el("div", "count", p.photos + (p.photos === 1 ? " photo" : " photos")));
  li.appendChild(a);
  // drag one person onto another: the dragged one joins the target
  li.addEventListener("dragstart", (ev) => ev.dataTransfer.setData("text/plain", String(p.id)));
  li.addEventListener("dragover", (ev) => { ev.preventDefault(); li.classList.add("drop"); });
  li.addEventListener("dragleave", () => li.classList.remove("drop"));
  li.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    li.classList.remove("drop");
    const other = Number(ev.dataTransfer.getData("text/plain"));
    if (!other || other === p.id) return;
    await merge(p.id, other);
    await openPeople();
  });
  return li;
}

async function merge(into, other) {
  try {
    const r = await send("/v1/library/people/" + into + "/merge", "POST", { other });
    status("merged into " + label(r) + ": " + r.faces + " faces");
    await loadStats();
    return r;
  } catch (e) { status(e.message, true); return null; }
}

async function openPerson(id) {
  show("view-person");
  const [p, faces, photos, everyone] = await Promise.all([
    api("/v1/library/people/" + id),
    api("/v1/library/people/" + id + "/faces?limit=500"),
    api("/v1/library/people/" + id + "/photos?limit=100"),
    api("/v1/library/people?limit=500"),
  ]);
  current = p;
  $("p-name").value = p.name || "";
  $("p-counts").textContent = label(p) + ": " + p.faces + " faces in " + p.photos + " photos";
  const list = $("faces");
  list.replaceChildren();
  for (const f of faces.faces) list.appendChild(faceCard(f, true));
  const merge = $("merge-with");
  merge.replaceChildren();
  for (const o of everyone.people) {
    if (o.id === p.id) continue;
    const option = el("option", "", label(o) + " (" + o.faces + " faces)");
    option.value = o.id;
    merge.appendChild(option);
  }
  const pics = $("photos");
  pics.replaceChildren();
  for (const ph of photos.photos) {
    const li = el("li", "photo");
    const a = el("a");
    a.href = "#/photo/" + ph.id;
    a.dataset.back = "#/person/" + id;
    const img = el("img");
    img.alt = "photo " + ph.id;
    image(img, "/v1/library/photos/" + ph.id + "/preview?size=320");
    a.appendChild(img);
    a.appendChild(el("div", "count", ph.faces.length + (ph.faces.length === 1 ? " face" : " faces")));
    li.appendChild(a);
    pics.appendChild(li);
  }
}

function faceCard(f, selectable) {
  const li = el("li", "face");
  li.dataset.face = f.id;
  const img = thumb(f.id, "face " + f.id);
  if (selectable) {
    const lab = el("label");
    const box = el("input");
    box.type = "checkbox";
    box.value = f.id;
    box.setAttribute("aria-label", "select face " + f.id);
    box.addEventListener("change", () => li.classList.toggle("chosen", box.checked));
    lab.appendChild(img);
    lab.appendChild(box);
    li.appendChild(lab);
  } else {
    li.appendChild(img);
    li.appendChild(el("div", "name", f.person_name || (f.person ? "#" + f.person : "no one")));
  }
  if (f.reasons.length) li.appendChild(el("div", "count", f.reasons.join(", ")));
  const a = el("a", "count", "photo");
  a.href = "#/photo/" + f.photo_id;
  li.appendChild(a);
  return li;
}

function chosen() {
  return Array.from($("faces").querySelectorAll("input:checked")).map((b) => Number(b.value));
}

async function openPhoto(id) {
  show("view-photo");
  const ph = await api("/v1/library/photos/" + id);
  const frame = $("photo-frame");
  for (const b of frame.querySelectorAll(".box")) b.remove();
  const list = $("photo-faces");
  list.replaceChildren();
  for (const f of ph.faces) {
    const [l, t, r, b] = f.box;
    const box = el("div", f.person ? "box" : "box unknown");
    box.style.left = (100 * l / ph.width) + "%";
    box.style.top = (100 * t / ph.height) + "%";
    box.style.width = (100 * (r - l) / ph.width) + "%";
    box.style.height = (100 * (b - t) / ph.height) + "%";
    const name = f.person_name || (f.person ? "#" + f.person : "?");
    box.appendChild(el("span", "", name));
    frame.appendChild(box);
    const item = el("li");
    if (f.person) {
      const a = el("a", "", name);
      a.href = "#/person/" + f.person;
      item.appendChild(a);
    } else item.textContent = "no one (review)";
    list.appendChild(item);
  }
  await image($("photo-img"), "/v1/library/photos/" + id + "/preview?size=1280");
}

async function openReview() {
  show("view-review");
  const r = await api("/v1/library/review?limit=200");
  $("review-total").textContent = "(" + r.total + ")";
  const list = $("review");
  list.replaceChildren();
  for (const f of r.faces) list.appendChild(faceCard(f, false));
}

// -- wiring -----------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("key").value.trim()); });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem("faceprint-key"); location.reload(); });
  window.addEventListener("hashchange", route);
  $("unnamed").addEventListener("change", () => openPeople().catch((e) => status(e.message, true)));
  $("more").addEventListener("click", () => morePeople().catch((e) => status(e.message, true)));

  $("index-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const job = await send("/v1/library/index", "POST", { folder: $("folder").value.trim() });
      showJob(job);
      status("indexing started");
      await watchJob();
    } catch (e) { status(e.message, true); }
  });
  $("index-cancel").addEventListener("click", async () => {
    try { showJob(await api("/v1/library/index", { method: "DELETE" })); } catch (e) { status(e.message, true); }
  });

  $("rename-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const p = await send("/v1/library/people/" + current.id + "/name", "PUT", { name: $("p-name").value.trim() });
      await openPerson(p.id);
      status("named " + label(p));
    } catch (e) { status(e.message, true); }
  });
  $("split").addEventListener("click", async () => {
    const faces = chosen();
    if (!faces.length) { status("select the faces to split out first", true); return; }
    try {
      const p = await send("/v1/library/people/" + current.id + "/split", "POST", { faces });
      await openPerson(current.id);
      status("split " + faces.length + " face(s) into " + label(p));
    } catch (e) { status(e.message, true); }
  });
  $("not").addEventListener("click", async () => {
    const faces = chosen();
    if (!faces.length) { status("select the faces that are not this person first", true); return; }
    try {
      await send("/v1/library/people/" + current.id + "/not", "POST", { faces });
      const who = label(current);
      await openPerson(current.id);
      status(faces.length + " face(s) are not " + who);
    } catch (e) {
      if (e.status === 404) { location.hash = "#/"; status("that was their last face: the person is gone"); }
      else status(e.message, true);
    }
  });
  $("merge").addEventListener("click", async () => {
    const other = Number($("merge-with").value);
    if (!other) return;
    const r = await merge(current.id, other);
    if (r) {
      await openPerson(r.id);
      status("merged into " + label(r) + ": " + r.faces + " faces");
    }
  });
  $("erase").addEventListener("click", async () => {
    if (!window.confirm("Erase " + label(current) + " and all their faces? This cannot be undone.")) return;
    try {
      const r = await api("/v1/library/people/" + current.id, { method: "DELETE" });
      status("erased " + label(current) + " (" + r.faces + " faces)");
      await loadStats();
      location.hash = "#/";
    } catch (e) { status(e.message, true); }
  });

  if (key) login(key);
});
