"use strict";
// The operator page: live view, one big verdict, one key to confirm or override.
let labels = [], okLabels = [], verdicts = [], selected = null;
const $ = (id) => document.getElementById(id);

function outcomeWord(v) {
  const o = v.review ? v.review.outcome : v.outcome;
  return { ok: "OK", nok: "NOK", uncertain: "?", class: (v.review ? v.review.label : v.label) }[o] || o;
}
function effective(v) { return v.review ? v.review.outcome : v.outcome; }

function showTile(v) {
  const t = $("tile");
  if (!v) return;
  const o = effective(v);
  t.className = "tile " + o + (v.review ? " reviewed" : "");
  const top = (v.top_k && v.top_k[0]) || { label: "", score: 0 };
  $("big").textContent = o === "uncertain" ? "?" : outcomeWord(v);
  $("label").textContent = o === "uncertain" ? "uncertain — please decide" : (v.review ? v.review.label : v.label);
  $("score").textContent = "#" + v.id + " · " + top.label + " " + Math.round(top.score * 100) + " %" +
    (v.review ? " · reviewed by " + v.review.by + " as " + v.review.label : "");
  $("hint").textContent = o === "uncertain" ? "Press the digit of the right class." : "Enter = confirm · digit = override";
}

function renderKeys() {
  const k = $("keys");
  k.innerHTML = "";
  labels.slice(0, 9).forEach((l, i) => {
    const b = document.createElement("button");
    b.innerHTML = "<kbd>" + (i + 1) + "</kbd>" + l;
    b.onclick = () => review(l);
    k.appendChild(b);
  });
}

function renderRecent() {
  const r = $("recent");
  r.innerHTML = "";
  verdicts.slice(0, 12).forEach((v) => {
    const d = document.createElement("div");
    d.className = "v " + effective(v) + (selected && selected.id === v.id ? " sel" : "");
    d.dataset.id = v.id;
    d.innerHTML = '<img src="/api/verdicts/' + v.id + '/thumb" alt=""><span>#' + v.id + " " + outcomeWord(v) +
      (v.review ? " ✔" : "") + "<br>" + new Date(v.time).toLocaleTimeString() + "</span>";
    d.onclick = () => { selected = v; showTile(v); renderRecent(); };
    r.appendChild(d);
  });
}

async function refreshCounts() {
  const c = await (await fetch("/api/counts")).json();
  $("n-ok").textContent = c.ok; $("n-nok").textContent = c.nok; $("n-unc").textContent = c.uncertain;
}

async function review(label) {
  if (!selected) return;
  const res = await fetch("/api/verdicts/" + selected.id + "/review", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ label }) });
  if (!res.ok) { $("hint").textContent = "not saved: " + (await res.json()).error; return; }
  upsert(await res.json());
}

function upsert(v) {
  const i = verdicts.findIndex((x) => x.id === v.id);
  if (i >= 0) verdicts[i] = v; else verdicts.unshift(v);
  verdicts.sort((a, b) => b.id - a.id);
  if (!selected || selected.id === v.id || i < 0) { selected = v; showTile(v); }
  renderRecent();
  refreshCounts();
}

function setStatus(s) {
  $("dot").className = "dot " + s.source_state;
  $("src").textContent = s.source_state + (s.fps ? " " + s.fps.toFixed(0) + " fps" : "") + (s.source_error ? " — " + s.source_error : "");
  $("model").textContent = s.model.name + " " + s.model.version + (s.model_error ? " (" + s.model_error + ")" : "") + (s.store_error ? " · STORE: " + s.store_error : "");
}

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT") return;
  if (e.key === "Enter" && selected) {
    if (effective(selected) === "uncertain") { $("hint").textContent = "Uncertain: press the digit of the right class."; return; }
    review(selected.review ? selected.review.label : selected.label);
  } else if (/^[1-9]$/.test(e.key) && labels[+e.key - 1]) {
    review(labels[+e.key - 1]);
  }
});

async function init() {
  const m = await (await fetch("/api/model")).json();
  labels = m.labels || []; okLabels = m.ok_labels || [];
  renderKeys();
  setStatus(await (await fetch("/api/status")).json());
  verdicts = await (await fetch("/api/verdicts?limit=12")).json();
  if (verdicts.length) { selected = verdicts[0]; showTile(selected); }
  renderRecent();
  refreshCounts();
  const es = new EventSource("/api/events");
  es.addEventListener("verdict", (e) => { const v = JSON.parse(e.data).verdict; selected = v; upsert(v); });
  es.addEventListener("review", (e) => upsert(JSON.parse(e.data).verdict));
  es.addEventListener("status", (e) => { setStatus(JSON.parse(e.data).status); });
  es.addEventListener("live", (e) => {
    const d = JSON.parse(e.data).live;
    const t = (d.top_k || [])[0];
    $("liveline").textContent = t ? "now: " + d.outcome + " · " + t.label + " " + Math.round(t.score * 100) + " %" : "";
  });
  setInterval(async () => setStatus(await (await fetch("/api/status")).json()), 5000);
}
init();
