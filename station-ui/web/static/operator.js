// Operator page: live view, one big verdict, Enter confirms, digits override.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const st = { labels: [], ok: [], current: null, history: [], busy: false };
  const BIG = { ok: t("op.big_ok"), nok: t("op.big_nok"), uncertain: "?", none: "—" };

  function toast(msg, good) {
    const t = $("toast");
    t.textContent = msg; t.className = "toast" + (good ? " good" : ""); t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 2500);
  }

  function renderLegend() {
    const ol = $("legend"); ol.textContent = "";
    st.labels.slice(0, 9).forEach((l, i) => {
      const cls = st.ok.length ? (st.ok.includes(l) ? "ok" : "nok") : "";
      const b = el("button", { type: "button", class: cls, "data-label": l, onclick: () => review(l) },
        el("kbd", { text: String(i + 1) }), el("span", { text: pretty(l) }));
      ol.append(el("li", {}, b));
    });
    markCurrent();
    $("count-class").hidden = st.ok.length > 0;
  }

  // Labels are identifiers (missing_hole); people read words.
  function pretty(l) { return String(l || "").replace(/_/g, " "); }

  function markCurrent() {
    const l = st.current ? effective(st.current).label : null;
    document.querySelectorAll(".legend button").forEach((b) => b.classList.toggle("current", b.dataset.label === l));
  }

  function renderTile() {
    const v = st.current, tile = $("tile");
    if (!v) { tile.dataset.outcome = "none"; return; }
    const e = effective(v);
    tile.dataset.outcome = e.outcome;
    tile.dataset.id = v.id;
    tile.dataset.reviewed = e.reviewed ? "true" : "false";
    let big = BIG[e.outcome] || pretty(e.label), label = pretty(e.label);
    if (e.outcome === "class") { big = pretty(e.label); label = t("op.part"); }
    if (label.toLowerCase() === String(big).toLowerCase() || e.label === "ok") label = e.outcome === "ok" ? t("op.good_part") : "";
    if (e.outcome === "uncertain") { big = t("op.big_uncertain"); label = t("op.please_decide", { N: Math.min(9, st.labels.length || 9) }); }
    $("verdict-big").textContent = big;
    $("verdict-label").textContent = label;
    $("verdict-label").dataset.label = e.label || "";
    const top = (v.top_k || [])[0];
    $("verdict-meta").textContent = "#" + v.id + " · " + hhmm(v.time) +
      (top ? " · " + t("op.machine") + ": " + pretty(top.label) + " " + pct(top.score) : "");
    const rs = $("review-state");
    if (v.review) {
      rs.className = "review-state done";
      rs.textContent = (v.review.confirmed ? t("op.confirmed_by", { By: v.review.by }) : t("op.set_to_by", { Label: pretty(v.review.label), By: v.review.by })) +
        " · " + hhmm(v.review.at) + (v.review.comment ? " · “" + v.review.comment + "”" : "");
    } else {
      rs.className = "review-state";
      rs.textContent = e.outcome === "uncertain" ? t("op.not_sure") : t("op.not_reviewed");
    }
    renderEvidence(v);
    markCurrent();
    tile.classList.add("flash"); setTimeout(() => tile.classList.remove("flash"), 300);
  }

  // renderEvidence shows the verdict's recorded frame with its heatmap over
  // it (an anomaly model's, or a classifier's occlusion map): red where the
  // model sees the defect, the hottest region outlined.
  function renderEvidence(v) {
    const fig = $("evidence"), hm = v && v.heatmap;
    if (!hm || !hm.data) { fig.hidden = true; return; }
    const img = $("evidence-img"), cv = $("evidence-heat"), hot = $("evidence-hot");
    if (img.dataset.id !== String(v.id)) { img.src = "/api/verdicts/" + v.id + "/image"; img.dataset.id = v.id; }
    drawHeatmap(cv, hot, hm, effective(v).outcome !== "ok");
    $("evidence-cap").textContent = hm.method === "occlusion"
      ? "where the model looked: hiding the marked region lowers its confidence most"
      : "anomaly score " + hm.score.toFixed(1) + " (NOK from " + hm.scale.toFixed(1) + ")";
    fig.hidden = false;
  }

  function renderHistory() {
    const ol = $("history"); ol.textContent = "";
    for (const v of st.history.slice(0, 12)) {
      const e = effective(v);
      const li = el("li", { class: "o-" + e.outcome + (st.current && st.current.id === v.id ? " sel" : ""), "data-id": v.id,
        title: "#" + v.id + " " + (e.label || e.outcome), onclick: () => { st.current = v; renderTile(); renderHistory(); } },
        el("img", { src: "/api/verdicts/" + v.id + "/thumb", alt: "", loading: "lazy" }),
        el("div", { class: "h-l", text: (e.reviewed ? "✎ " : "") + (pretty(e.label) || t("outcome." + e.outcome)) }),
        el("div", { class: "h-t", text: hhmm(v.time) }));
      ol.append(li);
    }
  }

  function upsert(v) {
    const i = st.history.findIndex((h) => h.id === v.id);
    if (i >= 0) st.history[i] = v; else { st.history.unshift(v); st.history.length = Math.min(st.history.length, 50); }
    if (!st.current || st.current.id === v.id || i < 0) st.current = v;
    renderTile(); renderHistory();
  }

  async function refreshCounts() {
    try {
      const c = await api("GET", "/api/counts");
      $("n-ok").textContent = c.ok; $("n-nok").textContent = c.nok; $("n-unc").textContent = c.uncertain;
      $("n-class").textContent = c.class; $("n-total").textContent = c.total;
    } catch (e) { /* the next event retries */ }
  }

  function renderStatus(s) {
    const src = $("st-source");
    src.textContent = t("state." + (s.source_state || "connecting")) + (s.fps ? " · " + num(s.fps, 1) + " fps" : "");
    src.className = "pill " + (s.source_state === "live" ? "live" : "bad");
    src.title = s.source + (s.source_error ? " — " + s.source_error : "");
    const m = $("st-model");
    m.textContent = s.model && s.model.name ? s.model.name + " " + s.model.version : t("op.no_model");
    m.className = "pill" + (s.model_error ? " bad" : "");
    m.title = s.model_error || (s.model && s.model.sha256) || "";
    // A lost camera must not look like a frozen picture of the table.
    const lost = s.source_state === "disconnected";
    $("no-camera").hidden = !lost;
    $("live").style.visibility = lost ? "hidden" : "";
    $("no-camera-reason").textContent = lost ? (s.source_error || s.source) : "";
    $("live-caption").textContent = s.source_state === "live" ? (renderLive.last || "") :
      lost ? "" : t("op.camera_state", { State: t("state." + s.source_state) }) + (s.source_error ? ": " + s.source_error : "");
  }

  function renderLive(d, present) {
    if (!d) return;
    if (!present) {
      renderLive.last = t("op.live_no_part");
      $("live-caption").textContent = renderLive.last;
      return;
    }
    const top = (d.top_k || [])[0];
    renderLive.last = t("op.live") + ": " + (d.outcome === "uncertain" ? t("op.big_uncertain") : pretty(d.label)) + (top ? " " + pct(top.score) : "");
    $("live-caption").textContent = renderLive.last;
  }

  async function loadLabels() {
    const l = await api("GET", "/api/labels");
    st.labels = l.labels; st.ok = l.ok_labels; renderLegend();
  }

  async function review(label) {
    const v = st.current;
    if (!v) { toast(t("op.no_verdict_to_review")); return; }
    if (!label) { toast(t("op.choose_class")); return; }
    if (st.busy) return;
    st.busy = true;
    try {
      const body = { label };
      const c = $("comment").value.trim(); if (c) body.comment = c;
      const nv = await api("POST", "/api/verdicts/" + v.id + "/review", body);
      $("comment").value = "";
      upsert(nv); refreshCounts();
      toast(t(nv.review.confirmed ? "op.confirmed" : "op.saved", { Label: pretty(label) }), true);
    } catch (e) { toast(t("op.not_saved", { Err: e.message })); }
    finally { st.busy = false; }
  }

  function confirm() { if (st.current) review(effective(st.current).label); }

  async function trigger() {
    try { upsert(await api("POST", "/api/trigger")); refreshCounts(); } catch (e) { toast(t("op.check_failed", { Err: e.message })); }
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if (ev.target && ev.target.id === "comment") {
      if (ev.key === "Enter") { ev.preventDefault(); ev.target.blur(); confirm(); }
      return;
    }
    if (ev.key === "Enter") { ev.preventDefault(); confirm(); }
    else if (ev.key === " ") { ev.preventDefault(); trigger(); }
    else if (/^[1-9]$/.test(ev.key)) {
      const l = st.labels[Number(ev.key) - 1];
      if (l) { ev.preventDefault(); review(l); }
    }
  });
  $("btn-trigger").addEventListener("click", trigger);
  $("btn-shift").addEventListener("click", async () => {
    if (!window.confirm(t("op.new_shift_confirm"))) return;
    await api("POST", "/api/shift"); refreshCounts();
  });
  const live = $("live");
  live.addEventListener("error", () => {
    // The stream ended (server restart): retry with a fresh URL.
    setTimeout(() => { live.src = live.dataset.stream + "?t=" + Date.now(); }, 2000);
  });
  if (document.readyState === "complete") live.src = live.dataset.stream;
  else window.addEventListener("load", () => { live.src = live.dataset.stream; });

  function connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("verdict", (m) => { const e = JSON.parse(m.data); if (e.verdict) { st.current = null; upsert(e.verdict); refreshCounts(); } });
    es.addEventListener("review", (m) => { const e = JSON.parse(m.data); if (e.verdict) { upsert(e.verdict); refreshCounts(); } });
    es.addEventListener("live", (m) => { const e = JSON.parse(m.data); renderLive(e.live, e.part_present); });
    es.addEventListener("status", (m) => {
      const s = JSON.parse(m.data).status; if (!s) return;
      const key = s.model ? s.model.name + s.model.version : "";
      renderStatus(s);
      if (key !== connect.model) { connect.model = key; loadLabels().catch(() => {}); }
    });
    es.onopen = () => { document.body.dataset.sse = "open"; };
  }

  (async function init() {
    try { await loadLabels(); } catch (e) { toast(t("eng.labels") + ": " + e.message); }
    try {
      const page = await api("GET", "/api/verdicts?limit=12");
      st.history = page.verdicts; st.current = st.history[0] || null;
      renderTile(); renderHistory();
    } catch (e) { toast(t("eng.verdicts") + ": " + e.message); }
    try { renderStatus(await api("GET", "/api/status")); } catch (e) { /* shown by SSE */ }
    refreshCounts();
    connect();
    document.body.dataset.ready = "true";
  })();
})();
