// restock dashboard: local times, cancel countdowns and live updates over SSE. No libraries, no build step.
(function () {
  "use strict";

  // Countdowns follow the hub's clock, not the phone's: keep the difference seen at page load.
  var serverNow = Date.parse(document.body.dataset.now || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var at = new Date(el.dateTime);
      if (isNaN(at)) return;
      el.title = el.textContent;
      el.textContent = at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
  }

  function remaining(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mmss = String(m).padStart(h ? 2 : 1, "0") + ":" + String(s).padStart(2, "0");
    return (h ? h + ":" : "") + mmss;
  }

  function tickCountdowns() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.countdown) - (Date.now() + skew)) / 1000);
      if (left > 0) {
        el.textContent = remaining(left) + " left to cancel";
        return;
      }
      el.textContent = "cancel window closed";
      el.classList.add("closed");
      var scope = el.closest("[data-key]") || el.closest("[data-live-region]");
      if (scope) scope.querySelectorAll("[data-window-form] button").forEach(function (b) { b.disabled = true; });
    });
  }

  function enhance(root) {
    localTimes(root);
    tickCountdowns();
  }

  // ---- Live regions: re-read the page and swap what changed, never under the user's fingers.
  var kinds = (document.body.dataset.live || "").split(/\s+/).filter(Boolean);
  var served = {};  // region id -> HTML as the server sent it (before local-time rewriting)
  var dirty = new WeakSet();
  var timer = null, inflight = false, again = false;

  document.querySelectorAll("[data-live-region]").forEach(function (r) { served[r.id] = r.innerHTML; });
  document.addEventListener("input", function (e) { if (e.target.form) dirty.add(e.target.form); });

  function busy(region) {
    var active = document.activeElement;
    if (active && region.contains(active) && active.matches("input, select, textarea")) return true;
    return Array.prototype.some.call(region.querySelectorAll("form"), function (f) { return dirty.has(f); });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  }

  function swap(doc) {
    document.querySelectorAll("[data-live-region]").forEach(function (region) {
      var fresh = doc.getElementById(region.id);
      if (!fresh || fresh.innerHTML === served[region.id]) return;
      if (busy(region)) {
        document.querySelector("[data-stale]").hidden = false;
        return;
      }
      var seen = {};
      region.querySelectorAll("[data-key]").forEach(function (el) { seen[el.dataset.key] = true; });
      region.innerHTML = served[region.id] = fresh.innerHTML;
      region.querySelectorAll("[data-key]").forEach(function (el) {
        if (!seen[el.dataset.key]) el.classList.add("fresh");
      });
      enhance(region);
    });
  }

  function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    fetch(location.pathname + location.search, { credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (res.redirected && res.url.indexOf("/web/signin") >= 0) { location.reload(); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) { if (html) swap(new DOMParser().parseFromString(html, "text/html")); })
      .catch(function () { /* offline for a moment: the next event or reconnect refreshes again */ })
      .then(function () {
        inflight = false;
        if (again) { again = false; schedule(); }
      });
  }

  function connect() {
    var state = document.querySelector("[data-live-state]");
    var source = new EventSource("/web/events");
    // "hello" comes once the hub has subscribed this stream: re-read then, so nothing that happened
    // between rendering the page (or a reconnect) and now is missed.
    source.addEventListener("hello", function () {
      if (state) state.classList.add("on");
      document.body.dataset.liveReady = "1";
      schedule();
    });
    source.addEventListener("error", function () { if (state) state.classList.remove("on"); });
    source.addEventListener("resync", schedule);
    kinds.forEach(function (kind) { source.addEventListener(kind, schedule); });
  }

  // Irreversible actions ask first.
  document.addEventListener("submit", function (e) {
    var question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  enhance(document);
  setInterval(tickCountdowns, 1000);
  if (kinds.length && window.EventSource) connect();
})();
