// Small progressive enhancements for the dashboard; every page works without them.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#element-id"> or <button data-copy-text="...">.
  function copyText(button) {
    var text = button.getAttribute("data-copy-text");
    if (text === null) {
      var target = document.querySelector(button.getAttribute("data-copy"));
      text = target ? (target.value !== undefined && target.tagName !== "PRE" && target.tagName !== "CODE" ? target.value : target.textContent) : "";
    }
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  }

  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy], [data-copy-text]");
    if (copy) { event.preventDefault(); copyText(copy); return; }

    // Narrow screens: the menu button opens and closes the sidebar; a click outside closes it.
    var toggle = event.target.closest("[data-menu-toggle]");
    if (toggle) {
      var open = document.body.classList.toggle("menu-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      return;
    }
    if (document.body.classList.contains("menu-open") && !event.target.closest(".sidebar")) {
      document.body.classList.remove("menu-open");
      var button = document.querySelector("[data-menu-toggle]");
      if (button) { button.setAttribute("aria-expanded", "false"); }
    }

    // Builder: select all / none of a connection's visible tools.
    var select = event.target.closest("[data-select-tools]");
    if (select) {
      event.preventDefault();
      var panel = select.closest(".panel");
      var on = select.getAttribute("data-select-tools") === "all";
      panel.querySelectorAll(".tool-row:not([hidden]) input.tool-check").forEach(function (box) {
        box.checked = on;
      });
      panel.querySelector("input.tool-check, input.all-tools")
        .dispatchEvent(new Event("change", { bubbles: true }));
      return;
    }

    // Tabs (snippets).
    var tab = event.target.closest("[data-tab]");
    if (tab) {
      event.preventDefault();
      var group = tab.closest(".tabs");
      group.querySelectorAll("[data-tab]").forEach(function (t) { t.classList.toggle("active", t === tab); });
      group.querySelectorAll("[data-pane]").forEach(function (p) {
        p.hidden = p.getAttribute("data-pane") !== tab.getAttribute("data-tab");
      });
    }
  });

  // Builder: "all tools" ticks and locks the connection's boxes; search filters tool rows.
  document.addEventListener("change", function (event) {
    if (event.target.matches("input.all-tools")) {
      var panel = event.target.closest(".panel");
      panel.classList.toggle("all-mode", event.target.checked);
      panel.querySelectorAll("input.tool-check").forEach(function (box) {
        box.disabled = event.target.checked;
        if (event.target.checked) { box.checked = true; }
      });
    }
    // Connection form: show only the fields that matter for this connector and auth type.
    if (event.target.matches("[data-kind-switch]")) { applyKinds(event.target.form); }
  });

  document.addEventListener("input", function (event) {
    if (!event.target.matches("[data-tool-search]")) { return; }
    var needle = event.target.value.trim().toLowerCase();
    var rows = document.querySelectorAll(".tool-row"), shown = 0;
    rows.forEach(function (row) {
      row.hidden = needle !== "" && row.getAttribute("data-search").indexOf(needle) === -1;
      if (!row.hidden) { shown += 1; }
    });
    // A panel with no matching tool collapses to its header.
    document.querySelectorAll(".panel").forEach(function (panel) {
      var any = panel.querySelector(".tool-row:not([hidden])");
      panel.classList.toggle("no-match", needle !== "" && !any);
    });
    var count = document.getElementById("tool-search-count");
    if (count) {
      count.hidden = needle === "";
      count.textContent = shown + " of " + rows.length + " tools match";
    }
  });

  function applyKinds(form) {
    if (!form) { return; }
    var connector = form.querySelector("[name=connector]");
    var auth = form.querySelector("[name=auth_type]");
    var kind = (connector && connector.value === "mcp" ? "mcp" : "catalog") + " " + (auth ? auth.value : "");
    form.querySelectorAll("[data-show-for]").forEach(function (block) {
      var wanted = block.getAttribute("data-show-for").split(" ");
      block.hidden = !wanted.some(function (w) { return kind.split(" ").indexOf(w) !== -1; });
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("menu-open")) {
      document.body.classList.remove("menu-open");
      var button = document.querySelector("[data-menu-toggle]");
      if (button) { button.setAttribute("aria-expanded", "false"); button.focus(); }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-kinds]").forEach(applyKinds);
    document.querySelectorAll("input.all-tools:checked").forEach(function (box) {
      box.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
})();
