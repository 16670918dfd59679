// The model-monitoring alarm banner (GET /api/monitor), shared by the
// operator, engineer and statistics pages: a red line while a monitor of
// the active model is over its threshold. Needs common.js.
"use strict";
(function () {
  let el = document.getElementById("monitor-banner");
  if (!el) {
    el = document.createElement("div");
    el.id = "monitor-banner";
    el.className = "monitor-banner";
    el.hidden = true;
    const header = document.querySelector("header");
    el.style.cssText = "background:#b00;color:#fff;padding:.5rem 1rem;font-weight:600";
    if (header) header.after(el); else document.body.prepend(el);
  }
  async function poll() {
    try {
      const res = await api("GET", "/api/monitor");
      const alarms = (res && res.alarms) || [];
      if (!alarms.length) { el.hidden = true; return; }
      const parts = alarms.map((a) => t("monitor." + a.monitor) + " " + a.value.toFixed(3) + " > " + a.threshold.toFixed(2));
      el.textContent = t("monitor.banner", { Model: res.status.model }) + ": " + parts.join(", ");
      el.hidden = false;
    } catch (e) { /* a failed poll keeps the last state; the next one retries */ }
  }
  poll();
  setInterval(poll, 30000);
})();
