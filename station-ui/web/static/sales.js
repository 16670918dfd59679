// Sales page: classify a customer's photo and show the closest catalogue parts.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  async function send(file) {
    $("error").hidden = true; $("results").textContent = "";
    $("preview").src = URL.createObjectURL(file); $("preview").hidden = false;
    const fd = new FormData(); fd.append("image", file);
    try {
      const v = await api("POST", "/api/classify", fd);
      for (const p of v.top_k || []) {
        $("results").append(el("li", {},
          el("img", { src: "/api/reference/" + encodeURIComponent(p.label), alt: p.label, onerror: (e) => { e.target.style.visibility = "hidden"; } }),
          el("div", {}, el("div", { class: "name", text: String(p.label).replace(/_/g, " ") }),
            el("div", { text: pct(p.score) + " match" }),
            el("div", { class: "barwrap" }, el("div", { class: "barfill", style: "width:" + pct(p.score) })))));
      }
      if (v.outcome === "uncertain") {
        $("error").textContent = "No part is a clear match — compare the candidates or take another photo."; $("error").hidden = false;
      }
    } catch (e) { $("error").textContent = e.message; $("error").hidden = false; }
  }
  $("file").addEventListener("change", (e) => { if (e.target.files[0]) send(e.target.files[0]); });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]); });
})();
