// Shared helpers for the Prüfplatz pages (plain ES2017, no build step).
"use strict";
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
  if (!res.ok) { throw new Error((data && data.error) || res.status + " " + res.statusText); }
  return data;
}
function bytes(n) {
  n = n || 0;
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(0) + " KiB";
  if (n < 1073741824) return (n / 1048576).toFixed(1) + " MiB";
  return (n / 1073741824).toFixed(2) + " GiB";
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
function pct(x) { return Math.round((x || 0) * 100) + "%"; }
function hhmm(t) { const d = new Date(t); return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }); }
// effective mirrors inspector.Verdict.Effective: the latest review counts.
function effective(v) {
  if (v.review && v.review.outcome) return { outcome: v.review.outcome, label: v.review.label, reviewed: true };
  return { outcome: v.outcome, label: v.label, reviewed: false };
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
