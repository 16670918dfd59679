// Shared helpers for the Prüfplatz pages (plain ES2017, no build step).
"use strict";
// The page's language and its message catalogue, rendered by the server
// from web/i18n/<lang>.json (station-ui/i18n.go).
const I18N = (function () {
  const e = document.getElementById("i18n");
  try { return JSON.parse(e.textContent); } catch (err) { return { lang: "en", msgs: {} }; }
})();
// t returns message id in the page's language, with {{.Name}} placeholders filled from vars.
function t(id, vars) {
  let s = (I18N.msgs && I18N.msgs[id]) || id;
  for (const [k, v] of Object.entries(vars || {})) s = s.split("{{." + k + "}}").join(String(v));
  return s;
}
// A language chosen on a page is remembered (cookie) and wins over the browser's.
document.addEventListener("click", (ev) => {
  const b = ev.target.closest && ev.target.closest("[data-lang]");
  if (!b) return;
  document.cookie = "lang=" + b.dataset.lang + "; path=/; max-age=31536000; SameSite=Strict";
  location.reload();
});
async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") {
    const m = document.querySelector('meta[name="csrf-token"]');
    if (m && m.content) opt.headers["X-CSRF-Token"] = m.content;
  }
  if (body !== undefined) {
    if (body instanceof FormData || body instanceof Blob) { opt.body = body; }
    else { opt.body = JSON.stringify(body); opt.headers["Content-Type"] = "application/json"; }
  }
  const res = await fetch(path, opt);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!res.ok) {
    // The API's messages are English; its stable code has a translation.
    const code = data && data.code, msg = (data && data.error) || res.status + " " + res.statusText;
    const known = code && I18N.msgs && I18N.msgs["error." + code];
    const err = new Error(known ? (I18N.lang === "en" ? msg : known + " (" + msg + ")") : msg);
    err.code = code; err.status = res.status;
    throw err;
  }
  return data;
}
function bytes(n) {
  n = n || 0;
  if (n < 1024) return n + " B";
  if (n < 1048576) return num(n / 1024, 0) + " KiB";
  if (n < 1073741824) return num(n / 1048576, 1) + " MiB";
  return num(n / 1073741824, 2) + " GiB";
}
// Every page with a logout button ends the session and goes to the login page.
document.addEventListener("DOMContentLoaded", () => {
  const b = document.getElementById("btn-logout");
  if (b) b.addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } finally { location.assign("/login"); }
  });
});
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
// Numbers, percentages and dates follow the page's language ("98,7 %" in German).
function pct(x) { return new Intl.NumberFormat(I18N.lang, { style: "percent", maximumFractionDigits: 1 }).format(x || 0); }
function num(x, digits) { return new Intl.NumberFormat(I18N.lang, { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 }).format(x || 0); }
function hhmm(ts) { const d = new Date(ts); return isNaN(d) ? "" : d.toLocaleTimeString(I18N.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }); }
function when(ts) { const d = new Date(ts); return isNaN(d) ? "" : d.toLocaleString(I18N.lang); }
// effective is the outcome and label that count, as the API computes them
// (inspector.Verdict.Effective: the latest review).
function effective(v) {
  return v.effective || { outcome: v.outcome, label: v.label, reviewed: false };
}

// drawHeatmap paints a verdict's heatmap (inspector.Heatmap) on canvas cv
// and places cv and the outline element hot over the recorded frame; both
// lie absolutely in a relative box the size of the frame's image. Cells
// like the good parts stay clear; colour grows from half the NOK level up.
function drawHeatmap(cv, hot, hm, outlined) {
  const raw = atob(hm.data);
  cv.width = hm.w; cv.height = hm.h;
  const ctx = cv.getContext("2d"), px = ctx.createImageData(hm.w, hm.h);
  for (let i = 0; i < hm.w * hm.h; i++) {
    const l = raw.charCodeAt(i) / 255;
    px.data[4 * i] = 255; px.data[4 * i + 1] = Math.round(230 * (1 - l)); px.data[4 * i + 2] = 0;
    px.data[4 * i + 3] = Math.round(255 * Math.max(0, Math.min(1, (l - 0.5) / 0.4)));
  }
  ctx.putImageData(px, 0, 0);
  const a = hm.area || { x: 0, y: 0, w: 1, h: 1 }, P = (f) => (100 * f) + "%";
  Object.assign(cv.style, { left: P(a.x), top: P(a.y), width: P(a.w), height: P(a.h) });
  const h = hm.hot || { w: 0 };
  hot.hidden = !(h.w > 0) || !outlined;
  if (h.w > 0) {
    Object.assign(hot.style, { left: P(a.x + a.w * h.x / hm.w), top: P(a.y + a.h * h.y / hm.h),
      width: P(a.w * h.w / hm.w), height: P(a.h * h.h / hm.h) });
  }
}
