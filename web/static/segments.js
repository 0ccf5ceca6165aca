// Segments page: a live count as one types a filter, the point-and-click
// builder writing into the filter box, and a progress page that refreshes
// itself while a job runs. Everything works without this script (the forms
// submit to the server); it only saves round trips.
(function () {
  "use strict";

  var form = document.getElementById("filter-form");
  var box = document.getElementById("q");
  if (form && box) {
    var countEl = document.getElementById("q-count");
    var errorEl = document.getElementById("q-error");
    var field = box.closest(".field");
    var url = form.getAttribute("data-count-url");
    var text = form.getAttribute("data-count-text") || "{n}";
    var lang = form.getAttribute("data-lang") || undefined;
    var timer = null;
    var seq = 0;

    var show = function (count, error) {
      countEl.textContent = error ? "" : text.replace("{n}", Number(count).toLocaleString(lang));
      errorEl.textContent = error || "";
      if (error) {
        box.setAttribute("aria-invalid", "true");
        field.classList.add("invalid");
      } else {
        box.removeAttribute("aria-invalid");
        field.classList.remove("invalid");
      }
    };

    var update = function () {
      var mine = ++seq;
      fetch(url + "?q=" + encodeURIComponent(box.value), {
        headers: { "Accept": "application/json" },
        credentials: "same-origin"
      }).then(function (res) {
        return res.json();
      }).then(function (data) {
        if (mine !== seq) {
          return; // a newer request is on its way
        }
        if (data.error) {
          show(0, data.error);
        } else {
          show(data.count, "");
        }
      }).catch(function () { /* offline or signed out: the form still works */ });
    };

    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(update, 250);
    });

    // The builder: same rules as segmentweb.BuildTerm.
    var builder = document.getElementById("builder");
    if (builder) {
      builder.addEventListener("submit", function (ev) {
        var q = builder.elements.bq.value.trim().toLowerCase();
        var op = builder.elements.bop.value;
        var v = builder.elements.bv.value.trim();
        var neg = builder.elements.bneg.checked;
        if (!v) {
          ev.preventDefault();
          builder.elements.bv.focus();
          return;
        }
        var name = q;
        if (q === "field") {
          var i = v.indexOf(":");
          if (i <= 0) {
            return; // let the server say what is wrong
          }
          name = "field." + v.slice(0, i).trim();
          v = v.slice(i + 1).trim();
        }
        if (op === "" && /[\s"()]/.test(v)) {
          v = "\"" + v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"") + "\"";
        }
        var term = (neg ? "-" : "") + name + ":" + op + v;
        ev.preventDefault();
        box.value = (box.value.trim() + " " + term).trim();
        builder.elements.q.value = box.value;
        builder.elements.bv.value = "";
        box.focus();
        update();
      });
    }
  }

  // A job's progress page reloads while the job runs.
  var job = document.getElementById("job");
  if (job && job.hasAttribute("data-job-running")) {
    setTimeout(function () { window.location.reload(); }, 2000);
  }
})();
