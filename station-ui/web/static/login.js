// Login page: post the credentials as JSON, then go where the user wanted to.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("error").hidden = true;
    try {
      await api("POST", "/api/login", { user: $("user").value, password: $("password").value });
      const next = document.body.dataset.next || "/";
      location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (err) {
      $("error").textContent = err.message; $("error").hidden = false;
      $("password").value = ""; $("password").focus();
    }
  });
})();
