/* Shipline's log viewer (templates/log.html): a virtualised view of a step's log.
 *
 * The scroll container is as high as all rows together (rows are --lv-line high, fixed);
 * only the rows in view, plus a margin, exist in the DOM. Lines arrive as HTML rendered by
 * the server (web/ansi.py: escaped, colours as spans) from `/lines`, in pages, and are kept
 * in a bounded cache. A section begins at each `+ ` line (a script command); a folded one
 * hides its lines up to the next command, which the server finds (`/section`). Rows map to
 * lines through the sorted list of folds, so a 1,000,000-line log costs what its screen
 * costs. A running step is followed through the log's SSE stream: its events only say that
 * the log grew, and the new lines are read, rendered, from `/lines`.
 */
(function () {
  "use strict";

  const root = document.getElementById("logview");
  if (!root) return;

  const PAGE = 500; // lines per /lines request
  const MARGIN = 60; // rows rendered above and below the visible ones
  const KEEP = 20000; // lines kept in memory; the farthest from view are dropped first
  const MAX_PX = 8000000; // browsers cap element heights (Firefox near 17.9M px): scale past this
  const LIVE_GAP_MS = 150; // at most ~7 tail reads a second, however fast the step writes

  const cfg = root.dataset;
  const scroller = root.querySelector(".lv-scroll");
  const spacer = root.querySelector(".lv-spacer");
  const box = root.querySelector(".lv-lines");
  const empty = root.querySelector(".lv-empty");
  const errorBox = root.querySelector(".lv-error");
  const input = document.getElementById("lv-q");
  const counter = document.getElementById("lv-count");
  const LH = parseFloat(getComputedStyle(root).getPropertyValue("--lv-line")) || 18;

  const lines = new Map(); // line number (from 1) → its HTML
  const sections = new Set(); // lines known to begin a command section
  const folds = new Map(); // folded section's first line → the next section's line, or null: to the end
  let sortedFolds = null; // [[start, end]] by start, ends resolved; null when stale
  let total = 0;
  let version = 0; // bumped whenever what a row shows may have changed
  let shown = ""; // which rows (and version) the DOM holds now
  let frame = 0;
  let target = 0; // the line of the URL's #L hash
  let following = false; // keep the view at the end as the log grows
  let matches = [];
  let matchSet = new Set();
  let current = -1;
  let query = "";
  const requested = new Set();

  function url(base, params) {
    const u = new URL(base, location.href);
    u.searchParams.set("attempt", cfg.attempt);
    for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async function getJson(address) {
    const response = await fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) {
      throw new Error(response.redirected ? "signed out: reload the page" : "HTTP " + response.status);
    }
    return response.json();
  }

  function showError(error) {
    errorBox.textContent = "Could not read the log: " + error.message;
    errorBox.hidden = false;
  }

  // ---- folds: rows ↔ lines ------------------------------------------------------------

  function foldList() {
    if (sortedFolds === null) {
      sortedFolds = [...folds.entries()]
        .map(([s, e]) => [s, e === null ? total + 1 : e])
        .sort((a, b) => a[0] - b[0]);
    }
    return sortedFolds;
  }

  function rowCount() {
    let rows = total;
    for (const [s, e] of foldList()) rows -= Math.max(0, Math.min(e, total + 1) - s - 1);
    return Math.max(0, rows);
  }

  function rowToLine(row) {
    let line = row + 1;
    for (const [s, e] of foldList()) {
      if (line <= s) break;
      line += e - s - 1;
    }
    return line;
  }

  function lineToRow(line) {
    let hidden = 0;
    for (const [s, e] of foldList()) {
      if (line <= s) break;
      if (line < e) return s - 1 - hidden; // inside a fold: its first line's row
      hidden += e - s - 1;
    }
    return line - 1 - hidden;
  }

  function nextLine(line) {
    const end = folds.get(line);
    if (end === undefined) return line + 1;
    return end === null ? total + 1 : end;
  }

  function foldsChanged() {
    sortedFolds = null;
    version++;
  }

  // ---- geometry -----------------------------------------------------------------------

  function geometry() {
    const rows = rowCount();
    const virtual = rows * LH;
    return { rows, virtual, real: Math.min(virtual, MAX_PX), view: scroller.clientHeight };
  }

  function virtualTop(g) {
    if (g.real === g.virtual) return scroller.scrollTop;
    const maxReal = g.real - g.view;
    return maxReal > 0 ? (Math.min(scroller.scrollTop, maxReal) * (g.virtual - g.view)) / maxReal : 0;
  }

  function scrollToVirtual(g, top) {
    const v = Math.max(0, Math.min(top, g.virtual - g.view));
    scroller.scrollTop = g.real === g.virtual ? v : (v * (g.real - g.view)) / Math.max(1, g.virtual - g.view);
  }

  function atBottom() {
    return scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - LH;
  }

  // ---- rendering ----------------------------------------------------------------------

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function rowHtml(line) {
    const html = lines.get(line);
    let cls = "lv-row";
    if (html === undefined) cls += " lv-wait";
    const isCmd = sections.has(line);
    if (isCmd) cls += " lv-cmd";
    if (matchSet.has(line)) cls += line === matches[current] ? " lv-hit lv-cur" : " lv-hit";
    if (line === target) cls += " lv-target";
    let fold = "";
    let note = "";
    if (isCmd) {
      const folded = folds.has(line);
      fold = '<button type="button" class="lv-fold" data-fold="' + line + '" aria-expanded="' + !folded +
        '" title="' + (folded ? "Unfold" : "Fold") + ' this command">' + (folded ? "▶" : "▼") + "</button>";
      if (folded) {
        const hidden = nextLine(line) - line - 1;
        note = '<span class="lv-folded">⋯ ' + hidden + (hidden === 1 ? " line" : " lines") + "</span>";
      }
    }
    return '<div class="' + cls + '" data-n="' + line + '"><a class="lv-n" href="#L' + line + '">' + line +
      "</a>" + fold + '<span class="lv-t">' + (html === undefined ? " " : html) + note + "</span></div>";
  }

  function render() {
    frame = 0;
    const g = geometry();
    spacer.style.height = g.real + "px";
    if (following && g.rows) scroller.scrollTop = scroller.scrollHeight;
    const vTop = virtualTop(g);
    const first = Math.max(0, Math.floor(vTop / LH) - MARGIN);
    const last = Math.min(g.rows, Math.ceil((vTop + g.view) / LH) + MARGIN);
    box.style.transform = "translateY(" + (Math.min(scroller.scrollTop, g.real) + first * LH - vTop) + "px)";
    const key = first + ":" + last + ":" + version;
    if (key === shown) return;
    shown = key;
    const out = [];
    const missing = new Set(); // the first line of each page the rows need
    let line = rowToLine(first);
    for (let row = first; row < last && line <= total; row++) {
      if (!lines.has(line)) missing.add(Math.floor((line - 1) / PAGE) * PAGE + 1);
      out.push(rowHtml(line));
      line = nextLine(line);
    }
    box.innerHTML = out.join("");
    if (query) markMatches();
    for (const start of missing) load(start);
    empty.hidden = total > 0;
  }

  function markMatches() {
    const needle = query.toLowerCase();
    for (const row of box.querySelectorAll(".lv-hit .lv-t")) {
      const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
      const nodes = [];
      while (walker.nextNode()) nodes.push(walker.currentNode);
      for (const node of nodes) {
        const text = node.nodeValue;
        const lower = text.toLowerCase();
        let at = lower.indexOf(needle);
        if (at < 0 || lower.length !== text.length) continue;
        const parts = document.createDocumentFragment();
        let from = 0;
        while (at >= 0) {
          parts.append(text.slice(from, at));
          const mark = document.createElement("mark");
          mark.textContent = text.slice(at, at + needle.length);
          parts.append(mark);
          from = at + needle.length;
          at = lower.indexOf(needle, from);
        }
        parts.append(text.slice(from));
        node.replaceWith(parts);
      }
    }
  }

  // ---- data ---------------------------------------------------------------------------

  function setTotal(n) {
    if (n === total) return;
    total = n;
    sortedFolds = null;
    root.style.setProperty("--lv-digits", String(Math.max(1, total).toString().length));
    version++;
  }

  function take(answer) {
    // Answers can arrive out of order while a log grows: an older one knows fewer lines,
    // and its last line may have been half written then.
    const older = answer.total < total;
    setTotal(Math.max(total, answer.total));
    answer.lines.forEach((html, i) => {
      if (!(older && answer.start + i === answer.total)) lines.set(answer.start + i, html);
    });
    for (const n of answer.sections) {
      sections.add(n);
      for (const [s, e] of folds) {
        if (e === null && n > s) folds.set(s, n); // a live log's last section got its end
      }
    }
    sortedFolds = null;
    if (lines.size > KEEP) forget();
    version++;
  }

  function forget() {
    const middle = rowToLine(Math.floor(virtualTop(geometry()) / LH));
    const keys = [...lines.keys()].sort((a, b) => Math.abs(b - middle) - Math.abs(a - middle));
    for (const n of keys.slice(0, lines.size - Math.floor(KEEP * 0.8))) {
      lines.delete(n);
      sections.delete(n);
    }
  }

  async function load(start) {
    if (requested.has(start) || requested.size >= 3) return;
    requested.add(start);
    try {
      take(await getJson(url(cfg.lines, { start, count: PAGE })));
      errorBox.hidden = true;
    } catch (error) {
      showError(error);
      return; // no retry loop: the next scroll asks again
    } finally {
      requested.delete(start);
    }
    schedule();
  }

  // ---- moving around ------------------------------------------------------------------

  function goTo(line, always) {
    if (!total) return;
    line = Math.max(1, Math.min(line, total));
    for (const [s, e] of foldList()) {
      if (s < line && line < e) folds.delete(s); // never hide what was asked for
    }
    foldsChanged();
    const g = geometry();
    spacer.style.height = g.real + "px";
    const top = lineToRow(line) * LH;
    const vTop = virtualTop(g);
    if (always || top < vTop || top + LH > vTop + g.view) scrollToVirtual(g, top - g.view / 3);
    following = false;
    render();
  }

  function fromHash(always) {
    const m = /^#L(\d+)$/.exec(location.hash);
    if (!m) return false;
    target = Number(m[1]);
    goTo(target, always);
    return true;
  }

  // ---- search -------------------------------------------------------------------------

  function showCount(truncated) {
    if (!query) counter.textContent = "";
    else if (!matches.length) counter.textContent = "no matches";
    else counter.textContent = current + 1 + " of " + matches.length + (truncated ? "+" : "");
  }

  let searchTruncated = false;
  let searchTimer = 0;

  async function search() {
    const q = input.value;
    query = q;
    matches = [];
    matchSet = new Set();
    current = -1;
    version++;
    if (!q) {
      showCount(false);
      schedule();
      return;
    }
    counter.textContent = "searching…";
    let answer;
    try {
      answer = await getJson(url(cfg.search, { q }));
    } catch (error) {
      showError(error);
      return;
    }
    if (q !== input.value) return; // a newer search is on its way
    matches = answer.matches;
    matchSet = new Set(matches);
    searchTruncated = answer.truncated;
    version++;
    if (matches.length) {
      // The first match at or below the top of the view.
      const top = rowToLine(Math.floor(virtualTop(geometry()) / LH));
      const next = matches.findIndex((n) => n >= top);
      jump(next < 0 ? 0 : next);
    } else {
      showCount(false);
      schedule();
    }
  }

  function jump(index) {
    if (!matches.length) return;
    current = (index + matches.length) % matches.length;
    showCount(searchTruncated);
    version++;
    goTo(matches[current], false);
  }

  function step(by) {
    if (input.value !== query) search();
    else jump(current + by);
  }

  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    clearTimeout(searchTimer);
    step(event.shiftKey ? -1 : 1);
  });
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      if (input.value !== query) search();
    }, 350);
  });
  document.getElementById("lv-next").addEventListener("click", () => step(1));
  document.getElementById("lv-prev").addEventListener("click", () => step(-1));

  // ---- events -------------------------------------------------------------------------

  scroller.addEventListener("scroll", () => {
    following = atBottom() && Boolean(cfg.stream);
    schedule();
  }, { passive: true });
  window.addEventListener("resize", schedule);
  window.addEventListener("hashchange", () => fromHash(false));

  scroller.addEventListener("click", async (event) => {
    const button = event.target.closest(".lv-fold");
    if (!button) return;
    const start = Number(button.dataset.fold);
    if (folds.has(start)) {
      folds.delete(start);
    } else {
      try {
        const answer = await getJson(url(cfg.section, { start }));
        folds.set(start, answer.end);
      } catch (error) {
        showError(error);
        return;
      }
    }
    foldsChanged();
    render();
  });

  document.getElementById("lv-top").addEventListener("click", () => {
    following = false;
    scroller.scrollTop = 0;
  });
  document.getElementById("lv-end").addEventListener("click", () => {
    following = Boolean(cfg.stream);
    scroller.scrollTop = scroller.scrollHeight;
    schedule();
  });

  // ---- live tail ----------------------------------------------------------------------

  let dirty = false;
  let pumping = false;

  async function pump() {
    if (pumping) return;
    pumping = true;
    while (dirty) {
      dirty = false;
      try {
        // From the last known line: it may have been only half written.
        take(await getJson(url(cfg.lines, { start: Math.max(1, total), count: PAGE })));
        render();
      } catch (error) {
        showError(error);
      }
      await new Promise((resolve) => setTimeout(resolve, LIVE_GAP_MS));
    }
    pumping = false;
  }

  function setStatus(status) {
    const badge = document.getElementById("lv-status");
    if (!badge) return;
    badge.textContent = status;
    badge.className = "badge s-" + status.replace(/ /g, "-");
  }

  function live() {
    const stream = new EventSource(url(cfg.stream, { offset: cfg.offset }));
    stream.addEventListener("log", () => {
      dirty = true;
      pump();
    });
    stream.addEventListener("end", (event) => {
      stream.close();
      setStatus(JSON.parse(event.data).status);
      delete cfg.stream;
      dirty = true;
      pump();
    });
  }

  // ---- start --------------------------------------------------------------------------

  take(JSON.parse(document.getElementById("lv-initial").textContent));
  if (!fromHash(true)) {
    following = Boolean(cfg.stream);
    render();
  }
  if (cfg.stream) live();
})();
