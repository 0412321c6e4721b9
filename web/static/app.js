// Countersign's only script: live analysis on the request form, as the SQL is typed.
// Progressive enhancement: without it the form works the same, and the server analyzes on submit.
// Everything is built with textContent, never innerHTML: the SQL is user text.
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  var sql = document.getElementById("sql");
  var out = document.getElementById("live-analysis");
  if (!form || !sql || !out) return;
  var csrf = form.querySelector("input[name=csrf_token]");
  var target = document.getElementById("target");
  var timer = null;
  var latest = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(analysis) {
    out.textContent = "";
    var head = el("p", "live-head");
    head.appendChild(document.createTextNode("Analysis: risk "));
    head.appendChild(el("strong", "risk risk-" + analysis.risk, analysis.risk));
    head.appendChild(document.createTextNode(
      ", " + analysis.statements.length + " statement" + (analysis.statements.length === 1 ? "" : "s")));
    out.appendChild(head);
    var byLine = {};
    analysis.findings.forEach(function (f) { (byLine[f.line] = byLine[f.line] || []).push(f); });
    var lines = sql.value.split("\n");
    var table = el("table", "sql live");
    lines.forEach(function (text, i) {
      var found = byLine[i + 1];
      if (!found) return;
      var row = el("tr", "flagged");
      row.appendChild(el("td", "ln", String(i + 1)));
      var code = el("td", "code");
      code.appendChild(el("code", "", text));
      row.appendChild(code);
      var cell = el("td", "findings");
      found.forEach(function (f) {
        var box = el("div", "finding sev-" + f.severity);
        box.appendChild(el("strong", "", f.severity));
        box.appendChild(document.createTextNode(" "));
        box.appendChild(el("code", "", f.rule));
        box.appendChild(document.createTextNode(" " + f.message));
        cell.appendChild(box);
      });
      row.appendChild(cell);
      table.appendChild(row);
    });
    if (analysis.findings.length === 0) {
      out.appendChild(el("p", "muted", "Nothing to flag."));
    } else {
      out.appendChild(table);
    }
  }

  function analyze() {
    var mine = ++latest;
    if (!sql.value.trim()) { out.textContent = ""; return; }
    var body = { sql: sql.value };
    if (target && target.value) body.target = target.value; else body.dialect = "generic";
    fetch("/api/v1/analyze", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf ? csrf.value : "" },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.ok ? res.json() : null;
    }).then(function (analysis) {
      if (analysis && mine === latest) render(analysis);
    }).catch(function () { /* the server analyzes again on submit */ });
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(analyze, 250);
  }
  sql.addEventListener("input", soon);
  if (target) target.addEventListener("change", soon);
  analyze();
})();
