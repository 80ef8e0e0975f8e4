// faceprint admin page: plain JavaScript, same origin only, the key kept in sessionStorage.
"use strict";
const $ = (id) => document.getElementById(id);
let key = sessionStorage.getItem("faceprint-key") || "";

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
    throw new Error(err.code + ": " + err.message);
  }
  return body;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

async function login(candidate) {
  key = candidate;
  try {
    const me = await api("/v1/key");
    sessionStorage.setItem("faceprint-key", key);
    $("who").textContent = me.name + " (" + me.scopes.join(", ") + ")";
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    status("logged in as " + me.name);
    await Promise.allSettled([loadSubjects(), loadAudit()]);
  } catch (e) {
    key = "";
    sessionStorage.removeItem("faceprint-key");
    status(e.message, true);
  }
}

async function loadSubjects() {
  const data = await api("/v1/subjects");
  const body = $("subjects").querySelector("tbody");
  body.replaceChildren();
  const select = $("e-subject");
  select.replaceChildren();
  for (const s of data.subjects) {
    const row = document.createElement("tr");
    row.dataset.subject = s.subject;
    cell(row, s.subject);
    cell(row, s.consent.purpose);
    cell(row, s.consent.evidence);
    cell(row, s.consent.expires_at ? s.consent.expires_at.slice(0, 10) : "");
    cell(row, s.templates);
    const button = document.createElement("button");
    button.textContent = "Erase";
    button.className = "erase";
    button.addEventListener("click", () => erase(s.subject));
    cell(row, "").appendChild(button);
    body.appendChild(row);
    const option = document.createElement("option");
    option.value = option.textContent = s.subject;
    select.appendChild(option);
  }
}

async function loadAudit() {
  const data = await api("/v1/audit?limit=50");
  const body = $("audit").querySelector("tbody");
  body.replaceChildren();
  for (const e of data.entries) {
    const row = document.createElement("tr");
    cell(row, e.at.replace("T", " ").slice(0, 19));
    cell(row, e.actor);
    cell(row, e.operation);
    cell(row, e.purpose);
    cell(row, e.subjects.join(", "));
    cell(row, e.results);
    body.appendChild(row);
  }
}

async function erase(name) {
  if (!window.confirm("Erase " + name + " and all their templates? This cannot be undone.")) return;
  try {
    const r = await api("/v1/subjects/" + encodeURIComponent(name) + "?reason=admin%20page", { method: "DELETE" });
    status("erased " + r.subject + " (" + r.templates + " templates)");
  } catch (e) {
    status(e.message, true);
  }
  await Promise.allSettled([loadSubjects(), loadAudit()]);
}

async function drawSearch(file, result) {
  const bitmap = await createImageBitmap(file);
  const canvas = $("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const list = $("results");
  list.replaceChildren();
  const line = Math.max(2, Math.round(bitmap.width / 300));
  ctx.lineWidth = line;
  ctx.font = Math.max(14, line * 8) + "px sans-serif";
  result.faces.forEach((face, i) => {
    const best = face.matches[0];
    const label = (best ? best.subject + " " + best.similarity.toFixed(3) : "no match") + (face.masked ? ", masked" : "");
    const item = document.createElement("li");
    item.className = "face";
    item.textContent = "face " + (i + 1) + (face.masked ? " (masked)" : "") + ": " +
      (face.matches.length ? face.matches.map((m) => m.subject + " (" + m.similarity.toFixed(3) +
        (m.crowding == null ? "" : ", crowding " + m.crowding.toFixed(3)) +
        (m.comparison == null ? "" : ", " + m.comparison + " comparison") + ")").join(", ") : "no match") +
      (face.rule ? " — " + face.rule : "");
    list.appendChild(item);
    if (!face.box) return;
    const [l, t, r, b] = face.box;
    ctx.strokeStyle = best ? "#1a7f37" : "#c62828";
    ctx.strokeRect(l, t, r - l, b - t);
    const width = ctx.measureText(label).width + 8;
    const height = parseInt(ctx.font, 10) + 6;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillRect(l, Math.max(0, t - height), width, height);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, l + 4, Math.max(height, t) - 5);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("key").value.trim()); });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem("faceprint-key"); location.reload(); });
  $("audit-refresh").addEventListener("click", () => loadAudit().catch((e) => status(e.message, true)));

  $("create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { subject: $("c-name").value.trim(), purpose: $("c-purpose").value.trim() };
    if ($("c-evidence").value.trim()) body.evidence = $("c-evidence").value.trim();
    if ($("c-expires").value) body.expires_at = $("c-expires").value + "T00:00:00Z";
    try {
      const s = await api("/v1/subjects", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      status("created " + s.subject + " for the purpose " + s.consent.purpose);
      await loadSubjects();
      $("e-subject").value = s.subject;
      if (!$("s-purpose").value) $("s-purpose").value = s.consent.purpose;
    } catch (e) { status(e.message, true); }
    loadAudit().catch(() => {});
  });

  $("enrol-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = new FormData();
    for (const f of $("e-photos").files) form.append("images", f);
    const name = $("e-subject").value;
    status("enrolling ...");
    try {
      const r = await api("/v1/subjects/" + encodeURIComponent(name) + "/faces", { method: "POST", body: form });
      status("enrolled " + r.added + " face(s) into " + r.subject + ", " + r.skipped + " already enrolled");
    } catch (e) { status(e.message, true); }
    await Promise.allSettled([loadSubjects(), loadAudit()]);
  });

  $("search-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = $("s-photo").files[0];
    const form = new FormData();
    form.append("image", file);
    form.append("purpose", $("s-purpose").value.trim());
    form.append("all_faces", $("s-all").checked ? "true" : "false");
    status("searching ...");
    try {
      const r = await api("/v1/search", { method: "POST", body: form });
      await drawSearch(file, r);
      $("search-rule").textContent = "threshold " + r.threshold.toFixed(4) + " (" + r.rule + "); model " +
        r.model + ", calibrated on " + r.calibration;
      const names = r.faces.flatMap((f) => f.matches.map((m) => m.subject));
      status("search done: " + (names.length ? names.join(", ") : "no match"));
    } catch (e) { status(e.message, true); }
    loadAudit().catch(() => {});
  });

  if (key) login(key);
});
