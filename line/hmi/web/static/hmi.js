// Serialine HMI: the one hand-written script. It posts actions to the JSON
// API (/api/v1/...) with the session cookie and keeps the line page live
// from the API's server-sent events. No framework, no build step.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function say(text, isError) {
  const m = $("#msg");
  if (!m) return;
  m.textContent = text;
  m.className = "msg show" + (isError ? " err" : "");
}

// api calls the JSON API and returns the decoded body; on an error it shows
// the message (with its code) and throws.
async function api(method, path, body, background) {
  const opt = { method, credentials: "same-origin", headers: {} };
  if (background) opt.headers["X-Serialine-Background"] = "1"; // does not keep the session alive
  if (body !== undefined || method !== "GET") {
    // changes always go as JSON: the API refuses cookie-authenticated
    // changes without it (a cross-site page cannot send it unasked)
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body === undefined ? {} : body);
  }
  const resp = await fetch(path, opt);
  let data = null;
  try { data = await resp.json(); } catch (e) { /* empty body */ }
  if (!resp.ok) {
    const err = (data && data.error) || { code: "http_" + resp.status, message: resp.statusText };
    if (err.code === "unauthorized" && !path.endsWith("/login")) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    }
    if (err.code === "password_change_required") location.href = "/password";
    say(err.message + " [" + err.code + "]", true);
    const e = new Error(err.message);
    e.code = err.code;
    throw e;
  }
  return data;
}

function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function onSubmit(id, fn) {
  const f = document.getElementById(id);
  if (!f) return;
  f.addEventListener("submit", async ev => {
    ev.preventDefault();
    const btn = $("button[type=submit]", f);
    if (btn) btn.disabled = true;
    try { await fn(f); } catch (e) { /* shown by api() */ } finally { if (btn) btn.disabled = false; }
  });
}

// ---- login and password ----
onSubmit("login-form", async f => {
  const r = await api("POST", "/api/v1/login", { user: $("#login-user").value.trim(), password: $("#login-password").value });
  location.href = r.must_change ? "/password" : (f.dataset.next || "/");
});

onSubmit("password-form", async () => {
  if ($("#pw-new").value !== $("#pw-new2").value) { say("The two new passwords differ.", true); return; }
  await api("POST", "/api/v1/password", { old: $("#pw-old").value, new: $("#pw-new").value });
  location.href = "/";
});

const logout = $("#logout");
if (logout) logout.addEventListener("click", async () => {
  try { await api("POST", "/api/v1/logout"); } catch (e) { /* gone anyway */ }
  location.href = "/login";
});

// ---- batch setup ----
// The NHRN field (PZN, CIP …) is shown and required only for a market
// profile that names a national number AI (data-nhrn on its option).
function nhrnAI() {
  const sel = $("#b-profile");
  const opt = sel && sel.selectedOptions && sel.selectedOptions[0];
  return (opt && opt.dataset.nhrn) || "";
}
function showNHRN() {
  const row = $("#b-nhrn-row");
  if (!row) return;
  const ai = nhrnAI();
  row.hidden = !ai;
  $("#b-nhrn").required = !!ai;
  $("#b-nhrn-ai").textContent = ai;
}
if ($("#b-profile")) { $("#b-profile").addEventListener("change", showNHRN); showNHRN(); }
onSubmit("batch-form", async () => {
  const def = {
    id: $("#b-id").value.trim(), gtin: $("#b-gtin").value.trim(), lot: $("#b-lot").value.trim(),
    expiry: $("#b-expiry").value.trim(), profile: $("#b-profile").value,
    target: parseInt($("#b-target").value, 10) || 0, template: $("#b-template").value.trim(),
  };
  if (nhrnAI()) def.nhrn = $("#b-nhrn").value.trim();
  await api("POST", "/api/v1/batches", def);
  location.href = "/";
});

// ---- reconciliation sign-off ----
onSubmit("sign-form", async f => {
  await api("POST", "/api/v1/batches/" + encodeURIComponent(f.dataset.batch) + "/reconciliation/sign", {
    password: $("#sig-password").value, meaning: $("#sig-meaning").value, reason: $("#sig-reason").value.trim(),
  });
  location.href = "/reconciliation?batch=" + encodeURIComponent(f.dataset.batch);
});

// ---- unit page: supervisor action with e-signature ----
onSubmit("unit-action-form", async f => {
  const reason = $("#ua-reason").value.trim();
  const u = await api("POST", "/api/v1/units/" + encodeURIComponent(f.dataset.serial) + "/action", {
    action: $("#ua-action").value, reason,
    signature: { password: $("#ua-password").value, meaning: $("#ua-meaning").value, reason },
  });
  location.href = "/unit?code=" + encodeURIComponent(u.serial);
});

// ---- users (admin) ----
onSubmit("user-form", async () => {
  await api("POST", "/api/v1/users", { name: $("#u-name").value.trim(), role: $("#u-role").value, password: $("#u-password").value });
  location.reload();
});
onSubmit("reset-form", async () => {
  await api("PATCH", "/api/v1/users/" + encodeURIComponent($("#r-name").value), { password: $("#r-password").value });
  say("Password reset; the user must change it at the next login.", false);
  $("#r-password").value = "";
});
if ($("#users")) document.addEventListener("click", async ev => {
  const b = ev.target.closest("[data-user-act]");
  if (!b) return;
  const name = b.closest("tr").dataset.user;
  const body = { unlock: { unlock: true }, disable: { disabled: true }, enable: { disabled: false } }[b.dataset.userAct];
  try { await api("PATCH", "/api/v1/users/" + encodeURIComponent(name), body); location.reload(); } catch (e) { /* shown */ }
});

// ---- line page ----
const line = $("#line");

function setK(k, v) { $$('[data-k="' + k + '"]').forEach(el => { el.textContent = v; }); }

// PackML (ISA-TR88.00.02-2015, as OPC 30050 models it) commands offered
// per state; the other acting states (Holding, Completing, Resetting) only
// offer Stop and Abort.
const allowed = {
  Idle: ["start", "stop", "abort"], Execute: ["hold", "stop", "complete", "abort"], Held: ["unhold", "stop", "abort"],
  Suspended: ["hold", "unsuspend", "stop", "abort"], Complete: ["reset", "stop", "abort"], Stopped: ["reset", "abort"], Aborted: ["clear"],
  Starting: ["hold", "stop", "abort"], Suspending: ["hold", "stop", "abort"], Unsuspending: ["hold", "stop", "abort"],
  Unholding: ["hold", "stop", "abort"], Stopping: ["abort"], Aborting: [], Clearing: ["abort"],
};
const acting = ["stop", "abort"];

// Outside the Production unit mode the controller refuses what leads to
// Execute (no serialised production).
const producing = ["start", "unhold", "unsuspend"];

function updateButtons(state, hasBatch, mode) {
  const ok = allowed[state] || acting;
  const prod = !mode || mode === "Production";
  $$("[data-cmd]").forEach(b => { b.disabled = !hasBatch || !ok.includes(b.dataset.cmd) || (!prod && producing.includes(b.dataset.cmd)); });
}

let refreshing = false, again = false;
async function refreshLists() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  again = false;
  try {
    const [units, alarms] = await Promise.all([api("GET", "/api/v1/units?limit=8&state=commissioned,rejected,sampled,uncertain", undefined, true), api("GET", "/api/v1/alarms?active=1", undefined, true)]);
    $("#units").innerHTML = units.length ? units.map(u =>
      '<tr class="u-' + esc(u.state) + '"><td>' + esc(u.serial) + "</td><td>" + esc(u.state) + "</td><td>" +
      (u.grade != null ? u.grade.toFixed(1) + " " + letter(u.grade) : "ungraded") + "</td><td>" + esc(u.reason) + "</td></tr>").join("")
      : '<tr><td colspan="4" class="none">No units yet</td></tr>';
    $("#alarms").innerHTML = alarms.length ? alarms.map(a =>
      '<li class="sev-' + esc(a.severity) + (a.acked ? " acked" : "") + '"><span><b>' + esc(a.source) + "</b> " + esc(a.text) + "</span>" +
      (a.acked ? "<small>ack " + esc(a.acked_by) + "</small>" : '<button type="button" class="small" data-ack="' + esc(a.id) + '">Ack</button>') + "</li>").join("")
      : '<li class="none">No active alarms</li>';
  } catch (e) { /* shown */ } finally {
    refreshing = false;
    if (again) refreshLists();
  }
}

function letter(g) { return g >= 3.5 ? "A" : g >= 2.5 ? "B" : g >= 1.5 ? "C" : g >= 0.5 ? "D" : "F"; }

let lastKey = "", lastRejected = -1;

function showReasons(by) {
  const reasons = Object.entries(by || {}).sort((x, y) => y[1] - x[1]);
  $("#reasons").innerHTML = reasons.length ? reasons.map(([r, n]) => "<li><b>" + n + "</b> " + esc(r) + "</li>").join("") : '<li class="none">none</li>';
}
function applyStatus(st) {
  const b = st.batch;
  const c = (b && b.counters) || {};
  line.dataset.batch = b ? b.id : "";
  setK("state", st.state);
  setK("unit_mode", st.unit_mode || "Production");
  const s = $("#state");
  s.className = "state s-" + String(st.state).toLowerCase();
  setK("batch.id", b ? b.id : "none");
  setK("batch.desc", b ? "GTIN " + b.gtin + " · lot " + b.lot + " · exp " + b.expiry + " · " + (b.profile || "") + (b.nhrn ? " · NHRN " + b.nhrn : "") : "No batch defined — use New batch.");
  setK("batch.good", c.commissioned || 0);
  setK("batch.target", b ? b.target : 0);
  setK("good", c.commissioned || 0);
  setK("rejected", c.rejected || 0);
  setK("sampled", c.sampled || 0);
  setK("rate", Math.round(st.rate_per_min || 0));
  setK("queue", st.printer_queue || 0);
  setK("pool", (st.pools || []).map(p => p.available).join(" "));
  setK("alarms", st.active_alarms || 0);
  $("#progress").style.width = (b && b.target ? Math.min(100, 100 * (c.commissioned || 0) / b.target) : 0) + "%";
  if (c.rejected_by || !c.rejected) {
    showReasons(c.rejected_by);
  } else if (b && c.rejected !== lastRejected) {
    // the controller leaves per-reason counts out of the status: ask the
    // reconciliation, only when the reject count changes
    api("GET", "/api/v1/batches/" + encodeURIComponent(b.id) + "/reconciliation", undefined, true).then(r => showReasons(r.rejected_by)).catch(() => {});
  }
  lastRejected = c.rejected;
  $("#devices").innerHTML = (st.devices || []).map(d => '<li class="link-' + esc(d.link) + '"><b>' + esc(d.name) + "</b> <span>" + esc(d.kind) +
    "</span> <i>" + esc(d.link) + "</i>" + (d.detail ? " <small>" + esc(d.detail) + "</small>" : "") + "</li>").join("");
  updateButtons(st.state, !!b, st.unit_mode);
  const key = [c.commissioned, c.rejected, c.sampled, st.active_alarms, st.state].join("/");
  if (key !== lastKey) { lastKey = key; refreshLists(); }
}

if (line) {
  const p = $("#progress");
  p.style.width = (p.dataset.pct || 0) + "%";
  const modeEl = $('[data-k="unit_mode"]');
  updateButtons($("#state").textContent.trim(), !!line.dataset.batch, modeEl ? modeEl.textContent.trim() : "");
  document.addEventListener("click", async ev => {
    const cmd = ev.target.closest("[data-cmd]");
    const ack = ev.target.closest("[data-ack]");
    try {
      if (cmd) {
        cmd.disabled = true;
        const reason = $("#cmd-reason").value.trim();
        const b = await api("POST", "/api/v1/batches/" + encodeURIComponent(line.dataset.batch) + "/" + cmd.dataset.cmd, reason ? { reason } : undefined);
        $("#cmd-reason").value = "";
        say(cmd.dataset.cmd + ": batch " + b.id + " is " + b.state, false);
      } else if (ack) {
        ack.disabled = true;
        await api("POST", "/api/v1/alarms/" + encodeURIComponent(ack.dataset.ack) + "/ack");
        refreshLists();
      }
    } catch (e) { /* shown */ }
  });
  const es = new EventSource("/api/v1/events");
  es.addEventListener("status", ev => applyStatus(JSON.parse(ev.data)));
  let checking = false;
  es.addEventListener("error", async ev => {
    if (ev.data) {
      let d = {};
      try { d = JSON.parse(ev.data); } catch (e) { /* ignore */ }
      if (d.code === "unauthorized") { es.close(); location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
      say(d.message, true);
      return;
    }
    // connection lost or refused: if the session ended, api() sends us to the login page
    if (checking) return;
    checking = true;
    try { await api("GET", "/api/v1/session", undefined, true); } catch (e) { /* shown or redirected */ } finally { checking = false; }
  });
}

document.documentElement.dataset.ready = "1"; // tests wait for this
