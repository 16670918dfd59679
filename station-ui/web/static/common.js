// Shared helpers for the Prüfplatz pages (plain ES2017, no build step).
"use strict";
async function api(method, path, body) {
  const opt = { method, headers: {} };
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
function effective(v) {
  if (v.review) return { outcome: v.review.outcome, label: v.review.label, reviewed: true };
  return { outcome: v.outcome, label: v.label, reviewed: false };
}
