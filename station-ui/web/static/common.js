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
// effective is the outcome and label that count, as the API computes them
// (inspector.Verdict.Effective: the latest review).
function effective(v) {
  return v.effective || { outcome: v.outcome, label: v.label, reviewed: false };
}
