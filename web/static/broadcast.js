// Compose page: a live count of who will receive the broadcast and who is
// left out, as the audience is typed. The page works without this script
// (saving the draft shows the same figures); it only saves round trips.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var box = document.getElementById("estimate");
  if (!form || !box) {
    return;
  }
  var url = form.getAttribute("data-estimate-url");
  var sendable = document.getElementById("est-sendable");
  var left = document.getElementById("est-left");
  var errorEl = document.getElementById("est-error");
  var lang = document.documentElement.lang || undefined;
  var fmt = function (n) { return Number(n).toLocaleString(lang); };
  var timer = null;
  var seq = 0;
  var update = function () {
    var mine = ++seq;
    var q = "filter=" + encodeURIComponent(form.elements.filter.value) +
      "&topic=" + encodeURIComponent(form.elements.topic.value) +
      "&basis=" + encodeURIComponent(form.elements.basis.value);
    if (!form.elements.filter.value && !form.elements.topic.value) {
      sendable.textContent = "";
      left.textContent = "";
      errorEl.textContent = "";
      return;
    }
    fetch(url + "?" + q, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (res) { return res.json(); })
      .then(function (d) {
        if (mine !== seq) {
          return;
        }
        if (d.error) {
          errorEl.textContent = d.error;
          sendable.textContent = "";
          left.textContent = "";
          return;
        }
        errorEl.textContent = "";
        sendable.textContent = box.getAttribute("data-text-sendable").replace("{n}", fmt(d.sendable));
        left.textContent = box.getAttribute("data-text-left").replace("{c}", fmt(d.no_consent))
          .replace("{s}", fmt(d.suppressed)).replace("{b}", fmt(d.bad_address));
      })
      .catch(function () { /* offline or signed out: the form still works */ });
  };
  var later = function () {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  };
  form.elements.filter.addEventListener("input", later);
  form.elements.topic.addEventListener("change", later);
  form.elements.basis.addEventListener("change", later);
})();
