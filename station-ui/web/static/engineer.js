// Engineer page: status, model versions, verdict history with filters and export.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let query = "", next = 0;

  async function loadStatus() {
    const s = await api("GET", "/api/status"), dl = $("status");
    dl.textContent = "";
    const rows = [[t("eng.st_source"), s.source + " (" + t("state." + s.source_state) + ")" + (s.source_error ? " — " + s.source_error : "")],
      [t("eng.st_fps"), num(s.fps, 1)], [t("eng.st_frames"), num(s.frames) + " / " + num(s.dropped)], [t("eng.st_trigger"), s.trigger],
      [t("eng.st_model"), (s.model.name || t("eng.none")) + " " + (s.model.version || "") + (s.model_error ? " — " + s.model_error : "")],
      [t("eng.st_sha"), s.model.sha256 || ""], [t("eng.st_dataset"), s.model.dataset_hash || ""],
      [t("eng.st_store"), bytes(s.store ? s.store.size_bytes : s.store_size_bytes) + (s.store ? ", " + t("eng.st_verdicts", { N: num(s.store.count) }) : "") + (s.store_error ? " — " + s.store_error : "")],
      [t("eng.st_shift"), when(s.shift_start)]];
    for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: v }));
  }

  async function loadModels() {
    const r = await api("GET", "/api/models"), tb = $("models");
    tb.textContent = "";
    for (const c of r.models) {
      const active = r.active && r.active.name === c.name && r.active.version === c.version;
      const test = c.metrics && (c.metrics.test || c.metrics.validation);
      tb.append(el("tr", { class: active ? "active" : "" },
        el("td", { text: c.name }), el("td", { text: c.version }), el("td", { text: (c.labels || []).join(", ") }),
        el("td", { text: test ? pct(test.accuracy) : "–" }), el("td", { text: c.created && new Date(c.created).getFullYear() > 2000 ? when(c.created) : "" }),
        el("td", {}, active ? el("b", { text: t("eng.active") }) : el("button", { class: "btn small", text: t("eng.activate"),
          onclick: () => act("/api/models/activate", { name: c.name, version: c.version }) })),
        el("td", {}, el("a", { class: "btn small report", text: t("eng.report"), title: t("eng.report_title"),
          href: "/api/models/" + encodeURIComponent(c.name) + "/" + encodeURIComponent(c.version) + "/report?format=pdf&lang=" +
            (I18N.lang === "en" ? "en" : "de") }))));
    }
    $("model-errors").hidden = !(r.errors && r.errors.length);
    $("model-errors").textContent = (r.errors || []).join("\n");
  }

  async function act(path, body) {
    try { await api("POST", path, body); } catch (e) { alert(e.message); }
    loadModels(); loadStatus();
    if (document.body.dataset.admin === "true") loadAdmin().catch(() => {});
  }

  // thumbWithHeatmap links a verdict's frame; a verdict with a heatmap
  // (anomaly model, or a classifier's occlusion map) shows it over the thumb.
  function thumbWithHeatmap(v) {
    const a = el("a", { href: "/api/verdicts/" + v.id + "/image", class: v.heatmap ? "evidence-frame" : "" },
      el("img", { src: "/api/verdicts/" + v.id + "/thumb", alt: "", loading: "lazy" }));
    if (v.heatmap && v.heatmap.data) {
      const cv = el("canvas", { class: "evidence-heat", title: "heatmap (" + v.heatmap.method + ")" }), hot = el("div", { class: "evidence-hot thin" });
      drawHeatmap(cv, hot, v.heatmap, v.outcome !== "ok");
      a.append(cv, hot);
    }
    return a;
  }

  async function loadVerdicts(more) {
    const q = query + (more && next ? "&before=" + next : "");
    const r = await api("GET", "/api/verdicts?limit=50" + q), tb = $("verdicts");
    if (!more) tb.textContent = "";
    for (const v of r.verdicts) {
      const top = (v.top_k || [])[0];
      tb.append(el("tr", {},
        el("td", {}, thumbWithHeatmap(v)),
        el("td", { text: v.id }), el("td", { text: when(v.time) }), el("td", { text: t("outcome." + v.outcome) }),
        el("td", { text: v.label }), el("td", { text: top ? pct(top.score) : "" }),
        el("td", { text: v.model.name + " " + v.model.version }),
        el("td", { text: v.review ? v.review.label + " (" + v.review.by + ")" + (v.review.comment ? " “" + v.review.comment + "”" : "") +
          ((v.review_history || []).length ? " — " + t("eng.earlier") + ": " + v.review_history.map((r) => r.label + " (" + r.by + ")").join(", ") : "") : "" })));
    }
    next = r.next || 0; $("more").hidden = !next;
  }

  async function loadAdmin() {
    const a = await api("GET", "/api/audit?limit=100"), tb = $("audit");
    tb.textContent = "";
    for (const e of a.events) {
      tb.append(el("tr", { class: e.ok ? "" : "failed" }, el("td", { text: e.id }), el("td", { text: when(e.time) }),
        el("td", { text: e.actor }), el("td", { text: e.via || "" }), el("td", { text: e.addr || "" }), el("td", { text: e.action }),
        el("td", { text: e.target || "" }), el("td", { text: e.detail || "" }), el("td", { text: e.ok ? t("eng.yes") : t("eng.no") })));
    }
    const u = await api("GET", "/api/users"), ub = $("users");
    ub.textContent = "";
    for (const x of u.users) ub.append(el("tr", {}, el("td", { text: x.name }), el("td", { text: t("eng.user") }), el("td", { text: x.roles.join(", ") }),
      el("td", { text: x.disabled ? t("eng.disabled") : t("eng.active") }), el("td", { text: when(x.created) })));
    for (const x of u.tokens) ub.append(el("tr", {}, el("td", { text: x.name + " (" + x.id + ")" }), el("td", { text: t("eng.token") }), el("td", { text: x.roles.join(", ") }),
      el("td", { text: x.revoked ? t("eng.revoked") : t("eng.active") }), el("td", { text: when(x.created) })));
  }

  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) {
      if (!v) continue;
      p.set(k, (k === "from" || k === "to") ? new Date(v).toISOString().replace(/\.\d+Z$/, "Z") : v);
    }
    query = p.toString() ? "&" + p.toString() : "";
    $("exp-csv").href = "/api/export?format=csv" + query; $("exp-json").href = "/api/export?format=json" + query;
    loadVerdicts(false).catch((e) => alert(e.message));
  });
  $("more").addEventListener("click", () => loadVerdicts(true));
  $("btn-rollback").addEventListener("click", () => { if (confirm(t("eng.rollback_confirm"))) act("/api/models/rollback"); });
  const isEng = document.body.dataset.engineer === "true", isAdmin = document.body.dataset.admin === "true";
  if (isEng) { loadStatus().catch(() => {}); loadModels().catch(() => {}); loadVerdicts(false).catch(() => {}); }
  if (isAdmin) loadAdmin().catch(() => {});
})();
