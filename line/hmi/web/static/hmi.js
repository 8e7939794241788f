// Serialine HMI: the one hand-written script. It posts actions to the JSON
// API (/api/v1/...) with the session cookie and keeps the pages live from
// the API's server-sent events. No framework, no build step.
//
// Conventions (line/README.md, "HMI conventions"): texts from the message
// catalogue (T), messages in the fixed #msg area (say), commands that end
// or stop something through the one confirmation dialog (confirmCommand),
// buttons enabled exactly for the commands the server accepts (status.commands).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

let CAT = {};
// T returns the catalogue text of key with {name} placeholders filled.
function T(key, args) {
  let s = CAT[key] || key;
  for (const [k, v] of Object.entries(args || {})) s = s.split("{" + k + "}").join(v);
  return s;
}

// W translates a state or name (kind prefix "ustate.", "pstate.",
// "level.", "stmode.", "link."); unknown words stay as they are.
function W(prefix, s) {
  return CAT[prefix + s] || s;
}

function say(text, isError, code) {
  const m = $("#msg");
  if (!m) return;
  m.textContent = text;
  m.dataset.code = code || ""; // the API's error code, for support (not shown)
  m.className = "msg show" + (isError ? " err" : "");
}

// api calls the JSON API and returns the decoded body; on an error it shows
// the message and throws.
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
    say(err.message, true, err.code);
    const e = new Error(err.message);
    e.code = err.code;
    throw e;
  }
  return data;
}

function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function onSubmit(sel, fn) {
  $$(sel).forEach(f => f.addEventListener("submit", async ev => {
    ev.preventDefault();
    const btn = $("button[type=submit]", f);
    if (btn) btn.disabled = true;
    try { await fn(f); } catch (e) { /* shown by api() */ } finally { if (btn) btn.disabled = false; }
  }));
}

// ---- login, password, language ----
onSubmit("#login-form", async f => {
  const r = await api("POST", "/api/v1/login", { user: $("#login-user").value.trim(), password: $("#login-password").value });
  location.href = r.must_change ? "/password" : (f.dataset.next || "/");
});

onSubmit("#password-form", async () => {
  if ($("#pw-new").value !== $("#pw-new2").value) { say(T("password.differ"), true); return; }
  await api("POST", "/api/v1/password", { old: $("#pw-old").value, new: $("#pw-new").value });
  location.href = "/";
});

const logout = $("#logout");
if (logout) logout.addEventListener("click", async () => {
  try { await api("POST", "/api/v1/logout"); } catch (e) { /* gone anyway */ }
  location.href = "/login";
});

const langSel = $("#lang");
if (langSel) langSel.addEventListener("change", async () => {
  try { await api("PATCH", "/api/v1/session", { lang: langSel.value }); location.reload(); } catch (e) { /* shown */ }
});

// ---- confirmation dialog with a reason code ----
let RULES = null;
async function rules() {
  if (!RULES) RULES = await api("GET", "/api/v1/shift/rules", undefined, true);
  return RULES;
}

// confirmCommand asks to confirm cmd with a reason code (from the line's
// list for cmd, if any) and a note; it resolves to the request body, or
// null when cancelled.
async function confirmCommand(cmd) {
  const r = await rules();
  let codes = (r.reasons || {})[cmd] || [];
  if (cmd === "complete") {
    // "target reached" only when it is (the server refuses it otherwise)
    const num = k => parseInt((document.querySelector('[data-k="' + k + '"]') || {}).textContent, 10) || 0;
    if (num("batch.good") < num("batch.target")) codes = codes.filter(c => c.code !== "target-reached");
  }
  const dlg = $("#confirm");
  $("#confirm-title").textContent = T("confirm.title." + cmd);
  $("#confirm-text").textContent = T("confirm.text." + cmd);
  const sel = $("#confirm-reason");
  sel.innerHTML = '<option value="">' + esc(T("confirm.pick")) + "</option>" + codes.map(c => '<option value="' + esc(c.code) + '">' + esc(c.text) + "</option>").join("");
  sel.required = codes.length > 0;
  $("#confirm-reason-row").hidden = codes.length === 0;
  const note = $("#confirm-note");
  note.value = "";
  // the reason code "other" needs the note (the server refuses it without)
  const noteRule = () => {
    note.required = sel.value === "other";
    $("#confirm-note-label").textContent = T(note.required ? "confirm.note.required" : "confirm.note");
  };
  sel.onchange = noteRule;
  noteRule();
  $("#confirm-ok").textContent = T("cmd." + cmd);
  return new Promise(resolve => {
    const done = v => { dlg.close(); $("#confirm-form").onsubmit = null; $("#confirm-cancel").onclick = null; resolve(v); };
    $("#confirm-cancel").onclick = () => done(null);
    $("#confirm-form").onsubmit = ev => {
      ev.preventDefault();
      if (sel.required && !sel.value) { sel.focus(); return; }
      if (note.required && !note.value.trim()) { note.focus(); return; }
      const body = {};
      if (sel.value) body.reason_code = sel.value;
      if (note.value.trim()) body.reason = note.value.trim();
      done(body);
    };
    dlg.showModal();
  });
}
// commands that ask for confirmation and a reason
const confirmed = ["hold", "stop", "complete", "abort"];

// ---- batch setup ----
function nhrnAI() {
  const sel = $("#b-product") || $("#b-profile");
  const opt = sel && sel.selectedOptions && sel.selectedOptions[0];
  return (opt && opt.dataset.nhrn) || "";
}
function onProduct() {
  const row = $("#b-nhrn-row");
  if (!row) return;
  const ai = nhrnAI();
  row.hidden = !ai;
  $("#b-nhrn").required = !!ai;
  $("#b-nhrn-ai").textContent = ai;
  const p = $("#b-product");
  const opt = p && p.selectedOptions[0];
  if (opt && opt.value) {
    $("#b-expiry-hint").textContent = T("batch.expiry.earliest", { date: opt.dataset.earliest });
    $("#b-target-hint").textContent = T("batch.target.max", { max: opt.dataset.max });
    $("#b-target").max = opt.dataset.max;
  }
}
["#b-product", "#b-profile"].forEach(s => { if ($(s)) { $(s).addEventListener("change", onProduct); onProduct(); } });
onSubmit("#batch-form", async () => {
  const def = { id: $("#b-id").value.trim(), lot: $("#b-lot").value.trim(), expiry: $("#b-expiry").value.trim(),
    target: parseInt($("#b-target").value, 10) || 0 };
  if ($("#b-product")) def.gtin = $("#b-product").value;
  else { def.gtin = $("#b-gtin").value.trim(); def.profile = $("#b-profile").value; }
  if (nhrnAI()) def.nhrn = $("#b-nhrn").value.trim();
  await api("POST", "/api/v1/batches", def);
  location.href = "/";
});

// ---- line clearance ----
onSubmit("#clearance-form", async f => {
  const checked = $$("input[name=item]", f).filter(i => i.checked).map(i => i.value);
  await api("POST", "/api/v1/batches/" + encodeURIComponent(f.dataset.batch) + "/clearance", {
    checked, note: $("#cl-note").value.trim(),
    signature: { password: $("#cl-password").value, meaning: "performed", reason: $("#cl-reason").value.trim() },
  });
  location.href = "/";
});

// ---- batch record signature ----
onSubmit("#sign-form", async f => {
  await api("POST", "/api/v1/batches/" + encodeURIComponent(f.dataset.batch) + "/reconciliation/sign", {
    step: f.dataset.step, password: $("#sig-password").value, meaning: $("#sig-meaning").value, reason: $("#sig-reason").value.trim(),
  });
  location.href = "/reconciliation?batch=" + encodeURIComponent(f.dataset.batch);
});

// ---- unit page ----
onSubmit("#unit-action-form", async f => {
  const reason = $("#ua-reason").value.trim();
  const u = await api("POST", "/api/v1/units/" + encodeURIComponent(f.dataset.serial) + "/action", {
    action: $("#ua-action").value, reason,
    signature: { password: $("#ua-password").value, meaning: $("#ua-meaning").value, reason },
  });
  location.href = "/unit?code=" + encodeURIComponent(u.serial);
});
onSubmit("#op-action-form", async f => {
  const reason = $("#oa-reason").value.trim();
  const body = { action: $("#oa-action").value, reason };
  if (f.dataset.policy) body.supervisor = { user: $("#oa-sup-user").value.trim(), password: $("#oa-sup-password").value, meaning: "approved", reason };
  const u = await api("POST", "/api/v1/units/" + encodeURIComponent(f.dataset.serial) + "/action", body);
  location.href = "/unit?code=" + encodeURIComponent(u.serial);
});
onSubmit("#closeout-form", async f => {
  const u = await api("POST", "/api/v1/units/" + encodeURIComponent(f.dataset.serial) + "/closeout", {
    outcome: $("#co-outcome").value, note: $("#co-note").value.trim(),
    signature: { password: $("#co-password").value, meaning: "performed", reason: $("#co-reason").value.trim() },
  });
  location.href = "/unit?code=" + encodeURIComponent(u.serial);
});

// ---- users (admin) ----
onSubmit("#user-form", async () => {
  await api("POST", "/api/v1/users", { name: $("#u-name").value.trim(), full_name: $("#u-fullname").value.trim(), role: $("#u-role").value,
    lang: $("#u-lang").value, password: $("#u-password").value });
  location.reload();
});
onSubmit("#reset-form", async () => {
  await api("PATCH", "/api/v1/users/" + encodeURIComponent($("#r-name").value), { password: $("#r-password").value });
  say(T("users.resetdone"), false);
  $("#r-password").value = "";
});
if ($("#users")) document.addEventListener("click", async ev => {
  const b = ev.target.closest("[data-user-act]");
  if (!b) return;
  const name = b.closest("tr").dataset.user;
  const body = { unlock: { unlock: true }, disable: { disabled: true }, enable: { disabled: false } }[b.dataset.userAct];
  try { await api("PATCH", "/api/v1/users/" + encodeURIComponent(name), body); location.reload(); } catch (e) { /* shown */ }
});

// ---- products (admin) ----
onSubmit("#product-form", async () => {
  // name:quantity[:sscc] or name:quantity:sgtin:GTIN (records.ParseLevels)
  const levels = $("#p-levels").value.split(",").map(s => s.trim()).filter(Boolean).map(s => {
    const [name, q, id, gtin] = s.split(":").map(x => x.trim());
    const l = { name: name || "", quantity: parseInt(q, 10) || 0 };
    if (id) l.id = id;
    if (gtin) l.gtin = gtin;
    return l;
  });
  const gtin = $("#p-gtin").value.trim();
  await api("PUT", "/api/v1/products/" + encodeURIComponent(gtin), {
    name: $("#p-name").value.trim(), profile: $("#p-profile").value, template: $("#p-template").value.trim(),
    gcp_length: parseInt($("#p-gcp").value, 10) || 0, min_shelf_life_days: parseInt($("#p-shelf").value, 10) || 0,
    max_batch: parseInt($("#p-max").value, 10) || 0, levels, active: $("#p-active").checked, reason: $("#p-reason").value.trim(),
  });
  location.href = "/products?gtin=" + encodeURIComponent(gtin);
});

// ---- shift handover ----
onSubmit("#handover-form", async () => {
  await api("POST", "/api/v1/shift/handovers", { note: $("#ho-note").value.trim(),
    signature: { password: $("#ho-password").value, meaning: "handed-over", reason: T("shift.handover") } });
  location.reload();
});
onSubmit(".ack-form", async f => {
  await api("POST", "/api/v1/shift/handovers/" + encodeURIComponent(f.dataset.id) + "/ack", {
    signature: { password: $("input[type=password]", f).value, meaning: "acknowledged", reason: T("shift.ack") } });
  location.reload();
});

// ---- alarms (any page: badge; alarms page: ack, ack all) ----
document.addEventListener("click", async ev => {
  const ack = ev.target.closest("[data-ack]");
  if (!ack) return;
  ack.disabled = true;
  try {
    await api("POST", "/api/v1/alarms/" + encodeURIComponent(ack.dataset.ack) + "/ack");
    if ($("#alarm-table")) location.reload(); else refreshLists();
  } catch (e) { ack.disabled = false; }
});
const ackAll = $("#ack-all");
if (ackAll) ackAll.addEventListener("click", async () => {
  ackAll.disabled = true;
  try { const a = await api("POST", "/api/v1/alarms/ack-all"); say(T("alarm.ackalldone", { n: a.length }), false); location.reload(); } catch (e) { ackAll.disabled = false; }
});

// ---- line page ----
const line = $("#line");

function setK(k, v) { $$('[data-k="' + k + '"]').forEach(el => { el.textContent = v; }); }

function setBadge(n) {
  $$('[data-k="alarms"]').forEach(el => { el.textContent = n ? String(n) : ""; el.classList.toggle("zero", !n); });
}

// updateButtons enables exactly the commands the server accepts now
// (status.commands: PackML state, role, line clearance).
function updateButtons(cmds) {
  $$("[data-cmd]").forEach(b => { b.disabled = !cmds.includes(b.dataset.cmd); });
}

let refreshing = false, again = false;
async function refreshLists() {
  if (!line) return;
  if (refreshing) { again = true; return; }
  refreshing = true;
  again = false;
  try {
    const [units, alarms] = await Promise.all([api("GET", "/api/v1/units?limit=8&state=commissioned,rejected,sampled,uncertain", undefined, true),
      api("GET", "/api/v1/alarms?view=attention&limit=5", undefined, true)]);
    $("#units").innerHTML = units.length ? units.map(u =>
      '<tr class="u-' + esc(u.state) + '"><td>' + esc(u.serial) + "</td><td>" + esc(W("ustate.", u.state)) + "</td><td>" +
      (u.grade != null ? u.grade.toFixed(1) + " " + letter(u.grade) : T("grade.ungraded")) + "</td><td>" + esc(reasonText(u.reason)) + "</td></tr>").join("")
      : '<tr><td colspan="4" class="none">' + esc(T("line.nounits")) + "</td></tr>";
    $("#alarms").innerHTML = alarms.length ? alarms.map(a =>
      '<li class="sev-' + esc(a.severity) + (a.acked ? " acked" : "") + (a.active ? "" : " cleared") + '"><span><b>' + esc(a.text) + "</b> <small>" + esc(a.code) + "</small></span>" +
      (a.acked ? "<small>" + esc(T("alarm.ackedby", { user: a.acked_by })) + "</small>" : '<button type="button" data-ack="' + esc(a.id) + '">' + esc(T("alarm.ack")) + "</button>") + "</li>").join("")
      : '<li class="none">' + esc(T("line.noalarm")) + "</li>";
  } catch (e) { /* shown */ } finally {
    refreshing = false;
    if (again) refreshLists();
  }
}

// reasonText is a unit reason in plain language with its code.
function reasonText(r) {
  if (!r) return "";
  const code = String(r).split(":")[0];
  return CAT["ureason." + code] ? CAT["ureason." + code] + " (" + code + ")" : r;
}

function letter(g) { return g >= 3.5 ? "A" : g >= 2.5 ? "B" : g >= 1.5 ? "C" : g >= 0.5 ? "D" : "F"; }

let lastKey = "", lastRejected = -1;

function showReasons(by) {
  const reasons = Object.entries(by || {}).sort((x, y) => y[1] - x[1]);
  $("#reasons").innerHTML = reasons.length ? reasons.map(([r, n]) => "<li><b>" + n + "</b> " + esc(reasonText(r)) + "</li>").join("") : '<li class="none">' + esc(T("line.noreject")) + "</li>";
}

function localTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: (document.querySelector("#zone") || {}).textContent || undefined });
}

function applyStatus(st) {
  const b = st.batch;
  const c = (b && b.counters) || {};
  line.dataset.batch = b ? b.id : "";
  line.dataset.state = st.state;
  setK("state", T("state." + st.state));
  setK("unit_mode", T("mode." + (st.unit_mode || "Production")));
  const s = $("#state");
  s.dataset.state = st.state;
  s.className = "state s-" + String(st.state).toLowerCase();
  setK("batch.id", b ? b.id : "–");
  setK("batch.product", b ? (b.product || "") : "");
  setK("batch.desc", b ? "GTIN " + b.gtin + " · " + T("line.lot") + " " + b.lot + " · " + T("line.expiry") + " " + b.expiry + " · " + (b.profile || "") + (b.nhrn ? " · NHRN " + b.nhrn : "") : T("line.nobatch"));
  setK("batch.good", c.commissioned || 0);
  setK("batch.target", b ? b.target : 0);
  setK("good", c.commissioned || 0);
  setK("rejected", c.rejected || 0);
  setK("sampled", c.sampled || 0);
  setK("rate", Math.round(st.rate_per_min || 0));
  setK("queue", st.printer_queue || 0);
  setK("pool", (st.pools || []).map(p => p.available).join(" "));
  setBadge(st.active_alarms || 0);
  $("#progress").style.width = (b && b.target ? Math.min(100, 100 * (c.commissioned || 0) / b.target) : 0) + "%";
  const held = $("#held");
  if (st.held) {
    const by = st.held.by || {};
    $("#held-by").textContent = T(by.role === "system" ? "line.heldby.system" : "line.heldby.person", { who: by.user, role: by.role });
    $("#held-at").textContent = T("line.since", { time: localTime(st.held.at) }) + " " + (st.time_zone || "");
    $("#held-reason").textContent = st.held.reason || "";
    $("#held-alarm").textContent = st.held.alarm ? st.held.alarm.text : "";
    held.hidden = false;
  } else {
    held.hidden = true;
  }
  const cl = $("#clearance-link");
  if (cl) {
    cl.hidden = !(b && b.state === "Idle" && !st.clearance);
    if (b) cl.href = "/clearance?batch=" + encodeURIComponent(b.id);
  }
  if (c.rejected_by || !c.rejected) {
    showReasons(c.rejected_by);
  } else if (b && c.rejected !== lastRejected) {
    api("GET", "/api/v1/batches/" + encodeURIComponent(b.id) + "/reconciliation", undefined, true).then(r => showReasons(r.rejected_by)).catch(() => {});
  }
  lastRejected = c.rejected;
  $("#devices").innerHTML = (st.devices || []).map(d => '<li class="link-' + esc(d.link) + '"><b>' + esc(d.name) + "</b> <span>" + esc(d.kind) +
    "</span> <i>" + esc(W("link.", d.link)) + "</i>" + (d.detail ? " <small>" + esc(d.detail) + "</small>" : "") + "</li>").join("");
  updateButtons(st.commands || []);
  document.documentElement.dataset.live = "1";
  const key = [c.commissioned, c.rejected, c.sampled, st.active_alarms, st.state].join("/");
  if (key !== lastKey) { lastKey = key; refreshLists(); }
}

// the badge on every page
function streamStatus(onStatus) {
  const es = new EventSource("/api/v1/events");
  es.addEventListener("status", ev => onStatus(JSON.parse(ev.data)));
  let checking = false;
  es.addEventListener("error", async ev => {
    if (ev.data) {
      let d = {};
      try { d = JSON.parse(ev.data); } catch (e) { /* ignore */ }
      if (d.code === "unauthorized") { es.close(); location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
      say(d.message, true);
      return;
    }
    if (checking) return;
    checking = true;
    try { await api("GET", "/api/v1/session", undefined, true); } catch (e) { /* shown or redirected */ } finally { checking = false; }
  });
}

async function start() {
  try { CAT = await (await fetch("/i18n.json", { credentials: "same-origin" })).json(); } catch (e) { CAT = {}; }
  if (line) {
    const p = $("#progress");
    p.style.width = (p.dataset.pct || 0) + "%";
    document.addEventListener("click", async ev => {
      const btn = ev.target.closest("[data-cmd]");
      if (!btn || btn.disabled) return;
      const cmd = btn.dataset.cmd;
      try {
        let body;
        if (confirmed.includes(cmd)) {
          body = await confirmCommand(cmd);
          if (!body) return;
        }
        btn.disabled = true;
        const b = await api("POST", "/api/v1/batches/" + encodeURIComponent(line.dataset.batch) + "/" + cmd, body);
        say(T("line.cmdok", { cmd: T("cmd." + cmd), batch: b.id, state: T("state." + b.state) }), false);
      } catch (e) { /* shown */ }
    });
  }
  if ($("header nav")) {
    streamStatus(st => { if (line) applyStatus(st); else setBadge(st.active_alarms || 0); });
  }
  document.documentElement.dataset.ready = "1"; // tests wait for this
}
start();
