// Sales page: search the spare-part catalogue with a customer's photo,
// confirm the part (or none of these), add new parts; engineers accept
// confirmed photos as reference photos.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const engineer = document.body.dataset.engineer === "1";
  let match = null;
  const photo = (id) => "/api/catalogue/photos/" + encodeURIComponent(id);
  function fail(e) { $("error").textContent = e.message || String(e); $("error").hidden = false; }

  async function status() {
    try {
      const s = await api("GET", "/api/catalogue");
      const c = s.calibration || {};
      let line = t("sales.status", { Parts: num(s.parts), Photos: num(s.photos), Backbone: s.backbone, Sha: String(s.backbone_sha256).slice(0, 12),
        Threshold: num(c.threshold, 3), FalseReject: pct(c.false_reject), UnknownRejected: pct(c.unknown_rejected) });
      if (s.reembedding) line += t("sales.reembedding", { Done: num(s.reembed_done), Total: num(s.reembed_total) });
      if (s.pending && !s.reembedding) line += t("sales.pending", { N: num(s.pending) });
      $("catinfo").textContent = line;
      if (s.reembedding || s.parts === 0) setTimeout(status, 3000);
    } catch (e) { $("catinfo").textContent = t("sales.unavailable", { Err: e.message }); }
  }

  async function search(file) {
    $("error").hidden = true; $("results").textContent = ""; $("recorded").textContent = ""; $("answer").hidden = true;
    $("preview").src = URL.createObjectURL(file);
    const fd = new FormData(); fd.append("image", file);
    const t0 = performance.now();
    try {
      match = await api("POST", "/api/catalogue/search", fd);
      show(match, performance.now() - t0);
    } catch (e) { fail(e); }
  }

  function show(m, ms) {
    const a = m.answer;
    $("answer").hidden = false;
    const v = $("verdict");
    if (!a.results.length) {
      v.className = "verdict nic"; v.textContent = t("sales.empty");
    } else if (a.not_in_catalogue) {
      v.className = "verdict nic";
      v.textContent = t("sales.not_in_catalogue", { Score: num(a.score, 3), Threshold: num(a.threshold, 3) });
    } else if (a.results[0].score < a.threshold) {
      // A twin in another finish below the threshold comes first: say why.
      v.className = "verdict ok";
      v.textContent = t("sales.best_match_twin", { Part: a.results[0].part, Name: a.results[0].name, Score: num(a.results[0].score, 3), Best: num(a.score, 3), Threshold: num(a.threshold, 3) });
    } else {
      v.className = "verdict ok";
      v.textContent = t("sales.best_match", { Part: a.results[0].part, Name: a.results[0].name, Score: num(a.results[0].score, 3), Threshold: num(a.threshold, 3) });
    }
    v.title = t("sales.answered", { Ms: Math.round(ms), Photos: num(a.photos) });
    $("mirror").hidden = !a.mirror_twins;
    if (a.mirror_twins) $("mirror").textContent = t("sales.mirror", { A: a.results[0].part, B: a.results[1].part });
    const la = a.look_alikes || [];
    $("lookalike").hidden = !la.length;
    if (la.length) {
      const parts = la.map((x) => x.part + " (" + (x.differs && x.differs.length ? x.differs.join(", ") : x.name) + ")").join("; ");
      $("lookalike").textContent = t("sales.lookalike", { A: a.results[0].part, Parts: parts });
    }
    a.results.forEach((r, i) => {
      $("results").append(el("li", { class: a.not_in_catalogue ? "weak" : (i === 0 ? "best" : "") },
        el("img", { src: photo(r.photo), alt: t("sales.reference_of", { Part: r.part }) }),
        el("div", {},
          el("div", { class: "pn", text: r.part }),
          el("div", { class: "name", text: r.name }),
          el("div", { text: t("sales.score", { Score: num(r.score, 3) }) }),
          el("div", { class: "barwrap" }, el("div", { class: "barfill", style: "width:" + pct(Math.max(0, r.score)) })),
          el("button", { class: "btn small confirm", type: "button", "data-part": r.part, text: t("sales.this_is_it"), onclick: () => confirm(r.part) }))));
    });
  }

  async function confirm(part) {
    if (!match) return;
    try {
      match = await api("POST", "/api/catalogue/matches/" + match.id + "/confirm", { part });
      $("recorded").textContent = part ? t("sales.recorded", { Part: part, By: match.by }) : t("sales.recorded_none", { By: match.by });
      matches();
    } catch (e) { fail(e); }
  }

  async function matches() {
    try {
      const ms = await api("GET", "/api/catalogue/matches?limit=20");
      const list = $("matchlist"); list.textContent = "";
      for (const m of ms.filter((m) => m.confirmed)) {
        const li = el("li", {}, el("img", { src: photo(m.query), alt: t("sales.customer_photo") }),
          el("span", { text: `${hhmm(m.at)} ${m.by}: ${m.chosen || t("sales.none_lc")}` + (m.answer.results.length ? t("sales.best_was", { Part: m.answer.results[0].part, Score: num(m.answer.results[0].score, 3) }) : "") }));
        if (m.accepted_by) li.append(el("span", { class: "muted", text: t("sales.accepted", { By: m.accepted_by }) }));
        else if (engineer && m.chosen) li.append(el("button", { class: "btn small accept", type: "button", text: t("sales.accept"), onclick: async () => {
          try { await api("POST", "/api/catalogue/matches/" + m.id + "/accept"); matches(); status(); } catch (e) { fail(e); }
        } }));
        list.append(li);
      }
    } catch (e) { /* the list is a convenience; search still works */ }
  }

  $("btn-none").addEventListener("click", () => confirm(""));
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) search(e.target.files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) search(e.dataTransfer.files[0]); });
  document.addEventListener("paste", (e) => {
    for (const it of (e.clipboardData || {}).items || []) {
      if (it.type.startsWith("image/")) { search(it.getAsFile()); e.preventDefault(); return; }
    }
  });
  $("addform").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("addmsg").textContent = t("sales.adding");
    const t0 = performance.now();
    try {
      const r = await api("POST", "/api/catalogue/parts", new FormData(e.target));
      $("addmsg").textContent = t("sales.added", { Part: r.part.number, N: r.photos.length, S: num((performance.now() - t0) / 1000, 1) });
      e.target.reset(); status();
    } catch (err) { $("addmsg").textContent = err.message; }
  });
  status(); matches();
})();
