// Engineer page: status, model versions, verdict history with filters and export.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let query = "", next = 0;

  async function loadStatus() {
    const s = await api("GET", "/api/status"), dl = $("status");
    dl.textContent = "";
    const rows = [["Source", s.source + " (" + s.source_state + ")" + (s.source_error ? " — " + s.source_error : "")],
      ["FPS", (s.fps || 0).toFixed(1)], ["Frames / dropped", s.frames + " / " + s.dropped], ["Trigger", s.trigger],
      ["Model", (s.model.name || "none") + " " + (s.model.version || "") + (s.model_error ? " — " + s.model_error : "")],
      ["Model sha256", s.model.sha256 || ""], ["Dataset", s.model.dataset_hash || ""],
      ["Store", ((s.store_size_bytes || 0) / 1048576).toFixed(1) + " MiB" + (s.store_error ? " — " + s.store_error : "")],
      ["Shift since", new Date(s.shift_start).toLocaleString()]];
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
        el("td", { text: test ? pct(test.accuracy) : "–" }), el("td", { text: c.created && new Date(c.created).getFullYear() > 2000 ? new Date(c.created).toLocaleString() : "" }),
        el("td", {}, active ? el("b", { text: "active" }) : el("button", { class: "btn small", text: "Activate",
          onclick: () => act("/api/models/activate", { name: c.name, version: c.version }) }))));
    }
    $("model-errors").hidden = !(r.errors && r.errors.length);
    $("model-errors").textContent = (r.errors || []).join("\n");
  }

  async function act(path, body) {
    try { await api("POST", path, body); } catch (e) { alert(e.message); }
    loadModels(); loadStatus();
  }

  async function loadVerdicts(more) {
    const q = query + (more && next ? "&before=" + next : "");
    const r = await api("GET", "/api/verdicts?limit=50" + q), tb = $("verdicts");
    if (!more) tb.textContent = "";
    for (const v of r.verdicts) {
      const top = (v.top_k || [])[0];
      tb.append(el("tr", {},
        el("td", {}, el("a", { href: "/api/verdicts/" + v.id + "/image" }, el("img", { src: "/api/verdicts/" + v.id + "/thumb", alt: "", loading: "lazy" }))),
        el("td", { text: v.id }), el("td", { text: new Date(v.time).toLocaleString() }), el("td", { text: v.outcome }),
        el("td", { text: v.label }), el("td", { text: top ? pct(top.score) : "" }),
        el("td", { text: v.model.name + " " + v.model.version }),
        el("td", { text: v.review ? v.review.label + " (" + v.review.by + ")" + (v.review.comment ? " “" + v.review.comment + "”" : "") : "" })));
    }
    next = r.next || 0; $("more").hidden = !next;
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
  $("btn-rollback").addEventListener("click", () => { if (confirm("Re-activate the previous model?")) act("/api/models/rollback"); });
  loadStatus().catch(() => {}); loadModels().catch(() => {}); loadVerdicts(false).catch(() => {});
})();
