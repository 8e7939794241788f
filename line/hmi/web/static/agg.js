// Serialine HMI, aggregation pages: the manual station (scan field that
// keeps the focus, big pass/fail answer), rework and the batch finish. Uses
// api(), say() and onSubmit() from hmi.js (loaded first, deferred in order).
"use strict";

(function () {
  // bar widths (inline styles are not allowed by the page's policy)
  const bars = () => document.querySelectorAll(".bar[data-pct]").forEach(b => { b.style.width = b.dataset.pct + "%"; });
  bars();
  const st = document.getElementById("station");
  if (st) {
    const name = st.dataset.station;
    const field = document.getElementById("scan-code");
    const out = document.getElementById("scan-result");
    const keepFocus = () => { if (document.activeElement !== field && !document.activeElement.closest("#partial-form")) field.focus(); };
    document.addEventListener("click", () => setTimeout(keepFocus, 0));
    setInterval(keepFocus, 1000);
    const show = r => {
      out.className = "verdict " + (r.ok ? "pass" : "fail");
      out.innerHTML = "<b>" + esc(r.ok ? T("st.ok") : T("st.refused")) + "</b> " + esc(r.message);
    };
    const refresh = async () => {
      const s = await api("GET", "/api/v1/aggregation/stations/" + name, undefined, true);
      document.getElementById("st-mode").textContent = W("stmode.", W("level.", s.mode));
      const o = s.open;
      document.getElementById("st-open").innerHTML = o ? "<p><b>" + esc(W("level.", o.level) + " " + o.hri) + "</b>: " + esc(T("st.open_of", { count: o.count, capacity: o.capacity })) +
        '</p><div class="progress big"><div class="bar" data-pct="' + Math.round(100 * o.count / o.capacity) + '"></div></div>' : '<p class="none">' + esc(T("st.nothing")) + "</p>";
      bars();
      document.getElementById("st-await").hidden = !s.await_label;
      if (cancel) {
        if (!o) disarm();
        cancel.disabled = !o;
      }
    };
    onSubmit("#scan-form", async () => {
      const code = field.value;
      field.value = "";
      try { show(await api("POST", "/api/v1/aggregation/stations/" + name + "/scan", { code })); } finally { refresh(); field.focus(); }
    });
    document.querySelectorAll("[data-mode]").forEach(b => b.addEventListener("click", async () => {
      try { await api("POST", "/api/v1/aggregation/stations/" + name + "/command", { command: "mode", mode: b.dataset.mode }); await refresh(); } catch (e) { /* shown */ }
    }));
    // Cancelling discards the open case's scans: the first tap arms the
    // button for 5 s, the second one cancels.
    const cancel = document.getElementById("st-cancel");
    let armed = 0;
    const disarm = () => { clearTimeout(armed); armed = 0; cancel.textContent = T("st.cancel"); cancel.classList.remove("stop"); };
    if (cancel) cancel.addEventListener("click", async () => {
      if (!armed) {
        armed = setTimeout(disarm, 5000);
        cancel.textContent = T("st.cancel.confirm");
        cancel.classList.add("stop");
        return;
      }
      disarm();
      try { await api("POST", "/api/v1/aggregation/stations/" + name + "/command", { command: "cancel", reason: "cancelled at the station" }); await refresh(); } catch (e) { /* shown */ }
    });
    onSubmit("#partial-form", async () => {
      const reason = document.getElementById("pt-reason").value.trim();
      await api("POST", "/api/v1/aggregation/stations/" + name + "/command", { command: "close-partial", reason,
        signature: { password: document.getElementById("pt-password").value, meaning: "approved", reason } });
      document.getElementById("pt-password").value = "";
      say(T("st.partial_done"), false);
      await refresh();
      field.focus();
    });
    field.focus();
  }

  onSubmit("#rework-form", async f => {
    const reason = document.getElementById("rw-reason").value.trim();
    const children = document.getElementById("rw-children").value.split(/\s+/).filter(Boolean);
    const p = await api("POST", "/api/v1/aggregation/rework", { action: document.getElementById("rw-action").value, parent: f.dataset.parent, children, reason,
      signature: { password: document.getElementById("rw-password").value, meaning: document.getElementById("rw-meaning").value, reason } });
    location.href = "/rework?code=" + encodeURIComponent(p.code);
  });

  onSubmit("#agg-finish-form", async f => {
    const reason = document.getElementById("af-reason").value.trim();
    await api("POST", "/api/v1/batches/" + encodeURIComponent(f.dataset.batch) + "/aggregation/finish", {
      password: document.getElementById("af-password").value, meaning: document.getElementById("af-meaning").value, reason });
    location.reload();
  });

  if (document.getElementById("agg")) {
    setInterval(() => { if (!document.querySelector("input:focus")) location.reload(); }, 3000);
  }
})();
