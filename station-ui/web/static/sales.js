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
      let t = `Catalogue: ${s.parts} parts, ${s.photos} reference photos · backbone ${s.backbone} (${String(s.backbone_sha256).slice(0, 12)}) · ` +
        `"not in the catalogue" below a score of ${(c.threshold || 0).toFixed(3)} (leave-one-part-out: ${pct(c.false_reject)} of known photos fall below it, ${pct(c.unknown_rejected)} of unknown ones)`;
      if (s.reembedding) t += ` · embedding photos with the new backbone: ${s.reembed_done} of ${s.reembed_total}`;
      if (s.pending && !s.reembedding) t += ` · ${s.pending} photos waiting to be embedded`;
      $("catinfo").textContent = t;
      if (s.reembedding || s.parts === 0) setTimeout(status, 3000);
    } catch (e) { $("catinfo").textContent = "Catalogue unavailable: " + e.message; }
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
      v.className = "verdict nic"; v.textContent = "The catalogue is empty.";
    } else if (a.not_in_catalogue) {
      v.className = "verdict nic";
      v.textContent = `Not in the catalogue: the best score ${a.results[0].score.toFixed(3)} is below the threshold ${a.threshold.toFixed(3)}. The nearest parts are shown for comparison only.`;
    } else {
      v.className = "verdict ok";
      v.textContent = `Best match: ${a.results[0].part} — ${a.results[0].name} (score ${a.results[0].score.toFixed(3)}, threshold ${a.threshold.toFixed(3)})`;
    }
    v.title = `answered in ${Math.round(ms)} ms from ${a.photos} reference photos`;
    $("mirror").hidden = !a.mirror_twins;
    if (a.mirror_twins) $("mirror").textContent = `Check the side: ${a.results[0].part} and ${a.results[1].part} are mirror images (left and right). Compare the photo with both.`;
    a.results.forEach((r, i) => {
      $("results").append(el("li", { class: a.not_in_catalogue ? "weak" : (i === 0 ? "best" : "") },
        el("img", { src: photo(r.photo), alt: "reference photo of " + r.part }),
        el("div", {},
          el("div", { class: "pn", text: r.part }),
          el("div", { class: "name", text: r.name }),
          el("div", { text: "score " + r.score.toFixed(3) }),
          el("div", { class: "barwrap" }, el("div", { class: "barfill", style: "width:" + pct(Math.max(0, r.score)) })),
          el("button", { class: "btn small confirm", type: "button", "data-part": r.part, text: "This is it", onclick: () => confirm(r.part) }))));
    });
  }

  async function confirm(part) {
    if (!match) return;
    try {
      match = await api("POST", "/api/catalogue/matches/" + match.id + "/confirm", { part });
      $("recorded").textContent = part ? `Recorded: ${part}, by ${match.by}.` : `Recorded: none of these, by ${match.by}.`;
      matches();
    } catch (e) { fail(e); }
  }

  async function matches() {
    try {
      const ms = await api("GET", "/api/catalogue/matches?limit=20");
      const list = $("matchlist"); list.textContent = "";
      for (const m of ms.filter((m) => m.confirmed)) {
        const li = el("li", {}, el("img", { src: photo(m.query), alt: "customer photo" }),
          el("span", { text: `${hhmm(m.at)} ${m.by}: ${m.chosen || "none of these"}` + (m.answer.results.length ? ` (best was ${m.answer.results[0].part} ${m.answer.results[0].score.toFixed(3)})` : "") }));
        if (m.accepted_by) li.append(el("span", { class: "muted", text: ` · reference photo since ${m.accepted_by} accepted it` }));
        else if (engineer && m.chosen) li.append(el("button", { class: "btn small accept", type: "button", text: "Accept as reference photo", onclick: async () => {
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
    $("addmsg").textContent = "Adding…";
    const t0 = performance.now();
    try {
      const r = await api("POST", "/api/catalogue/parts", new FormData(e.target));
      $("addmsg").textContent = `Added ${r.part.number} with ${r.photos.length} photos in ${((performance.now() - t0) / 1000).toFixed(1)} s; it is searchable now.`;
      e.target.reset(); status();
    } catch (err) { $("addmsg").textContent = err.message; }
  });
  status(); matches();
})();
