// The capture page: start a capture session, follow it (the next view to
// set up, progress, why a frame was rejected), review finished sessions.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let current = null; // id of the session followed
  let timer = null;
  let shownFrames = -1;

  function showError(err) {
    const e = $("cap-error");
    e.textContent = err ? err.message : "";
    e.hidden = !err;
  }

  async function start(ev) {
    ev.preventDefault();
    const f = new FormData($("cap-form"));
    const body = { mode: f.get("mode"), angles: Number(f.get("angles")), rig: f.get("rig"), interval_ms: Number(f.get("interval_ms")), flip: f.get("flip") === "on" };
    body[f.get("kind")] = f.get("name").trim();
    try {
      const s = await api("POST", "/api/capture/sessions", body);
      showError(null);
      // Space must take frames now, not press the focused Start button again.
      if (document.activeElement) document.activeElement.blur();
      follow(s.id);
      loadSessions();
    } catch (err) { showError(err); }
  }

  function follow(id) {
    current = id;
    shownFrames = -1;
    $("cap-live").hidden = false;
    $("cap-id").textContent = id;
    clearInterval(timer);
    poll();
    timer = setInterval(poll, 300);
  }

  function askText(p) {
    const s = p.session, last = p.last || {};
    if (!p.running) return "";
    if (s.mode === "turntable") return t("cap.turning", { Angle: num(last.angle) });
    if (s.mode === "timed") return t("cap.timed");
    const v = s.views[(last.view || 0)];
    return v ? v.ask : "";
  }

  async function poll() {
    if (!current) return;
    let p;
    try { p = await api("GET", "/api/capture/sessions/" + current); } catch (err) { showError(err); return; }
    const s = p.session, hand = s.mode !== "turntable";
    $("cap-state").textContent = p.running ? t("cap.state_running") : t("cap.state_" + s.state);
    $("cap-state").dataset.state = p.running ? "running" : s.state;
    const target = s.views.length * Math.max(1, s.per_view);
    $("cap-bar").max = target;
    $("cap-bar").value = s.frames.length;
    $("cap-count").textContent = t("cap.progress", { Taken: s.frames.length, Target: target });
    $("cap-ask").textContent = askText(p);
    const rej = p.running ? (p.rejected || "") : "";
    $("cap-reject").textContent = rej ? t("cap.rejected", { Reason: rej }) : "";
    $("cap-reject").hidden = !rej;
    $("cap-reason").textContent = s.reason || p.error || "";
    $("cap-reason").hidden = !(s.reason || p.error);
    $("cap-take").hidden = !(p.running && s.mode === "hand");
    $("cap-hint").hidden = $("cap-take").hidden;
    $("cap-stop").hidden = !p.running;
    $("cap-resume").hidden = p.running || !(s.state === "paused" || s.state === "incomplete");
    const prev = $("cap-preview");
    if (p.running && hand && !prev.src) prev.src = "/api/capture/preview.mjpg";
    if (!(p.running && hand) && prev.src) { prev.removeAttribute("src"); }
    prev.parentElement.hidden = !(p.running && hand);
    if (s.frames.length !== shownFrames && s.frames.length > 0) {
      shownFrames = s.frames.length;
      $("cap-last").src = "/api/capture/sessions/" + s.id + "/frames/" + (s.frames.length - 1);
      $("cap-last").parentElement.hidden = false;
    }
    if (!p.running) {
      clearInterval(timer);
      timer = null;
      loadSessions();
      loadDataset();
    }
  }

  async function act(action) {
    if (!current) return;
    try {
      await api("POST", "/api/capture/sessions/" + current + "/" + action);
      if (action === "resume") follow(current);
      else poll();
    } catch (err) { showError(err); }
  }

  async function loadSessions() {
    let r;
    try { r = await api("GET", "/api/capture/sessions"); } catch (err) { showError(err); return; }
    $("cap-root").textContent = r.dataset;
    const tb = $("cap-sessions");
    tb.replaceChildren();
    if (!r.sessions.length) tb.append(el("tr", {}, el("td", { colspan: "7", text: t("cap.none") })));
    for (const s of r.sessions) {
      const sheet = s.frames.length ? el("a", { href: "/api/capture/sessions/" + s.id + "/contact.png", target: "_blank" },
        el("img", { class: "cap-sheet", src: "/api/capture/sessions/" + s.id + "/contact.png?n=" + s.frames.length, alt: t("cap.col_sheet") })) : "";
      tb.append(el("tr", { "data-id": s.id },
        el("td", {}, el("code", { text: s.id })),
        el("td", { text: s.target.class || s.target.part }),
        el("td", { text: t("cap.mode_" + s.mode) }),
        el("td", { class: "state-" + s.state, text: t("cap.state_" + s.state), title: s.reason || "" }),
        el("td", { text: s.frames.length + " / " + s.views.length * Math.max(1, s.per_view) }),
        el("td", {}, sheet),
        el("td", {}, el("button", { class: "btn small cap-review", text: t("cap.review"), onclick: () => review(s.id) }),
          " ", el("button", { class: "btn small", text: t("cap.follow"), onclick: () => follow(s.id) }))));
    }
  }

  async function review(id) {
    let p;
    try { p = await api("GET", "/api/capture/sessions/" + id); } catch (err) { showError(err); return; }
    $("cap-review").hidden = false;
    $("cap-review-id").textContent = id;
    const box = $("cap-frames");
    box.replaceChildren();
    p.session.frames.forEach((f, i) => {
      const move = el("input", { class: "cap-move-to", size: "10", list: "cap-folders", placeholder: t("cap.move_to"), "aria-label": t("cap.move_to") });
      box.append(el("figure", { class: "cap-frame" },
        el("img", { src: "/api/capture/sessions/" + id + "/frames/" + i + "?f=" + encodeURIComponent(f.file), alt: f.file }),
        el("figcaption", {}, f.file.split("/")[0] + " · " + num(f.angle) + "°"),
        el("div", {},
          el("button", { class: "btn small cap-drop", text: t("cap.drop"), onclick: async () => {
            try { await api("DELETE", "/api/capture/sessions/" + id + "/frames/" + i); review(id); loadSessions(); loadDataset(); } catch (err) { showError(err); }
          } }),
          move,
          el("button", { class: "btn small cap-move", text: t("cap.move"), onclick: async () => {
            try { await api("POST", "/api/capture/sessions/" + id + "/frames/" + i + "/move", { to: move.value.trim() }); review(id); loadSessions(); loadDataset(); } catch (err) { showError(err); }
          } }))));
    });
  }

  async function loadDataset() {
    let d;
    try { d = await api("GET", "/api/capture/dataset"); } catch (err) { showError(err); return; }
    const tb = $("cap-classes");
    tb.replaceChildren();
    for (const c of d.classes || []) {
      tb.append(el("tr", { "data-class": c.class }, el("td", { text: c.class }), el("td", { text: c.images }), el("td", { text: c.sessions }), el("td", { text: c.angles })));
    }
    // The classes and parts a frame can be moved to.
    $("cap-folders").replaceChildren(...(d.classes || []).map((c) => el("option", { value: c.class })));
    const ul = $("cap-warnings");
    ul.replaceChildren();
    for (const w of d.warnings || []) ul.append(el("li", { text: w }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("cap-form").addEventListener("submit", start);
    $("cap-take").addEventListener("click", () => act("press"));
    $("cap-stop").addEventListener("click", () => act("stop"));
    $("cap-resume").addEventListener("click", () => act("resume"));
    // Space takes the frame in hand mode (not while typing in the form).
    document.addEventListener("keydown", (ev) => {
      if ((ev.code !== "Space" && ev.key !== " ") || (ev.target.closest && ev.target.closest("input, select, textarea"))) return;
      if ($("cap-take").hidden) return;
      ev.preventDefault();
      act("press");
    });
    loadSessions();
    loadDataset();
  });
})();
