/**
 * The live dashboard: one HTML page, its stylesheet and its script, served
 * by the control API from this module (no external scripts, fonts or tiles:
 * it works offline). The script reads GET /v1/dashboard every POLL_MS with a
 * bearer token it takes from the URL fragment (#token=…, never sent to a
 * server) or a sign-in form, and keeps in sessionStorage.
 */
import { MAP, worldPath } from "./world";

export const POLL_MS = 2000;

/** Only this page's own files, and only its own API: no inline script, nothing from elsewhere. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Outpost · live</title>
<link rel="stylesheet" href="/dashboard/app.css">
<link rel="icon" href="data:,">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header>
  <h1>Outpost <span class="sub">live</span></h1>
  <div id="status" data-state="connecting">connecting…</div>
</header>
<form id="signin" hidden>
  <p>Sign in with a control API token that has the <code>read</code> scope.</p>
  <label>Token <input id="token" type="password" autocomplete="off" required></label>
  <button type="submit">Show the dashboard</button>
  <p id="signin-error" role="alert"></p>
</form>
<main id="board" hidden>
  <section class="tiles">
    <div class="tile"><div class="label">Requests / s</div><div class="value" id="tile-rps">–</div></div>
    <div class="tile"><div class="label">Hit ratio</div><div class="value" id="tile-hit">–</div></div>
    <div class="tile"><div class="label">Offload (bytes)</div><div class="value" id="tile-offload">–</div></div>
    <div class="tile"><div class="label">Served</div><div class="value" id="tile-served">–</div></div>
    <div class="tile"><div class="label">Origins healthy</div><div class="value" id="tile-origins">–</div></div>
  </section>
  <section class="map-wrap">
    <svg id="map" viewBox="0 0 ${MAP.width} ${MAP.height}" role="img" aria-label="POPs and origins on a world map">
      <rect class="sea" x="0" y="0" width="${MAP.width}" height="${MAP.height}"></rect>
      <path class="land" d="${worldPath()}"></path>
      <g id="map-links"></g>
      <g id="map-nodes"></g>
    </svg>
    <div class="legend">
      <span><svg width="14" height="14"><circle cx="7" cy="7" r="6" class="pop" fill="hsl(100, 70%, 50%)"></circle></svg> POP (size: requests/s, colour: hit ratio)</span>
      <span><svg width="14" height="14"><rect x="1" y="1" width="12" height="12" class="origin healthy"></rect></svg> origin healthy</span>
      <span><svg width="14" height="14"><rect x="1" y="1" width="12" height="12" class="origin unhealthy"></rect></svg> origin down</span>
      <span><svg width="30" height="10"><line x1="0" y1="5" x2="30" y2="5" class="link"></line></svg> misses going there now</span>
    </div>
  </section>
  <section>
    <h2>POPs <span class="sub">over the last <span id="window">60</span> s</span></h2>
    <table id="pops">
      <thead><tr><th>POP</th><th>Sync</th><th>Req/s</th><th></th><th>Hit ratio</th><th>Offload</th><th>p50</th><th>p99</th><th>Served/s</th><th>Origins as this POP sees them</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Origins</h2>
    <table id="origins">
      <thead><tr><th>Origin</th><th>Region</th><th>Health</th><th>Probes</th><th>Ejected by</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <div class="columns">
    <section>
      <h2>Recent purges</h2>
      <ul id="purges" class="list"></ul>
    </section>
    <section>
      <h2>Health changes and ejections</h2>
      <ul id="events" class="list"></ul>
    </section>
  </div>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { color-scheme: dark; --bg:#0f1419; --panel:#171e26; --line:#263240; --text:#d7dee6; --dim:#8494a5; --ok:#3fb950; --bad:#f85149; --warn:#d29922; --accent:#58a6ff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; justify-content:space-between; align-items:center; padding:12px 20px; border-bottom:1px solid var(--line); }
h1 { margin:0; font-size:20px; } h2 { font-size:15px; margin:18px 0 8px; } .sub { color:var(--dim); font-weight:normal; font-size:0.85em; }
main, form { padding:0 20px 20px; max-width:1400px; margin:0 auto; }
#status { font-size:13px; color:var(--dim); } #status[data-state=live]::before { content:"● "; color:var(--ok); } #status[data-state=error]::before { content:"● "; color:var(--bad); }
.tiles { display:grid; grid-template-columns:repeat(5, 1fr); gap:10px; margin-top:14px; }
.tile { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px 14px; }
.tile .label { color:var(--dim); font-size:12px; } .tile .value { font-size:24px; font-variant-numeric:tabular-nums; }
.map-wrap { margin-top:12px; background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:8px; }
#map { width:100%; height:auto; display:block; }
.sea { fill:#0d1b2a; } .land { fill:#24313f; stroke:#2f3f50; stroke-width:0.6; }
.pop { stroke:#0f1419; stroke-width:1.5; fill-opacity:0.9; }
.origin { stroke:#0f1419; stroke-width:1.5; } .origin.healthy { fill:var(--ok); } .origin.unhealthy { fill:var(--bad); }
.link { stroke:var(--accent); stroke-opacity:0.55; fill:none; } .link.shield { stroke-dasharray:4 3; }
.node-label { fill:var(--text); font-size:11px; paint-order:stroke; stroke:#0d1b2a; stroke-width:3px; }
.legend { display:flex; gap:18px; flex-wrap:wrap; color:var(--dim); font-size:12px; padding:6px 4px 0; } .legend svg { vertical-align:middle; }
table { width:100%; border-collapse:collapse; background:var(--panel); border:1px solid var(--line); border-radius:6px; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); font-variant-numeric:tabular-nums; white-space:nowrap; } td.wrap { white-space:normal; } th { color:var(--dim); font-weight:normal; font-size:12px; }
.chip { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; margin:1px 3px 1px 0; background:#1f2a36; }
.chip.ok { color:var(--ok); } .chip.bad { color:var(--bad); background:#3a1d1f; } .chip.warn { color:var(--warn); }
.columns { display:grid; grid-template-columns:1fr 1fr; gap:20px; }
.list { list-style:none; margin:0; padding:0; background:var(--panel); border:1px solid var(--line); border-radius:6px; max-height:340px; overflow:auto; }
.list li { padding:6px 10px; border-bottom:1px solid var(--line); } .list .when { color:var(--dim); margin-right:8px; font-variant-numeric:tabular-nums; }
.list .empty { color:var(--dim); }
form label { display:block; margin:10px 0; } form input { width:420px; max-width:100%; padding:6px; background:var(--panel); color:var(--text); border:1px solid var(--line); border-radius:4px; }
button { padding:6px 14px; background:var(--accent); color:#0f1419; border:0; border-radius:4px; cursor:pointer; }
#signin-error { color:var(--bad); }
`;

/** The page's script (plain ES2020 for the browser; no template literals, so it sits in this one). */
const APP_JS = String.raw`(function () {
  "use strict";
  var MAP = __MAP__;
  var POLL_MS = __POLL_MS__;
  var TOKEN_KEY = "outpost-dashboard-token";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var timer = null;
  /** Recent views, newest last: link lines compare origin request counts with a view ~10 s old. */
  var recent = [];

  function byId(id) { return document.getElementById(id); }
  function project(lon, lat) {
    return [((lon + 180) / 360) * MAP.width, ((MAP.north - lat) / (MAP.north - MAP.south)) * MAP.height];
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function svgEl(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) { if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, String(attrs[k])); });
  }
  function append(node, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
  }
  function replaceChildren(node, children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    append(node, children);
  }
  function shortName(name) { return name.replace(/^Outpost-/, ""); }
  function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + " %"; }
  function ms(x) { return x === null || x === undefined ? "–" : x < 10 ? x.toFixed(1) + " ms" : Math.round(x) + " ms"; }
  function rate(x) { return x === null || x === undefined ? "–" : x < 10 ? x.toFixed(1) : String(Math.round(x)); }
  function bytes(x) {
    if (x === null || x === undefined) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    return (i === 0 ? String(Math.round(x)) : x.toFixed(1)) + " " + units[i];
  }
  function clock(at) { return new Date(at).toLocaleTimeString(); }
  function hitColour(ratio) {
    if (ratio === null || ratio === undefined) return "#58a6ff";
    return "hsl(" + Math.round(ratio * 120) + ", 70%, 50%)";
  }

  // ── token: from the fragment (browsers never send it), else sessionStorage, else the form ──
  function takeTokenFromFragment() {
    var match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function showSignIn(message) {
    if (timer) clearTimeout(timer);
    timer = null;
    byId("board").hidden = true;
    byId("signin").hidden = false;
    byId("signin-error").textContent = message || "";
    setStatus("error", "signed out");
  }
  function setStatus(state, text) {
    var status = byId("status");
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function poll() {
    var t = token();
    if (!t) return showSignIn("");
    fetch("/v1/dashboard", { headers: { authorization: "Bearer " + t }, cache: "no-store" })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          sessionStorage.removeItem(TOKEN_KEY);
          showSignIn(response.status === 401 ? "That token was not accepted." : "That token lacks the read scope.");
          return null;
        }
        if (!response.ok) throw new Error("control API answered " + response.status);
        return response.json();
      })
      .then(function (view) {
        if (!view) return;
        byId("signin").hidden = true;
        byId("board").hidden = false;
        render(view);
        setStatus("live", "live · updated " + clock(view.generatedAt));
        timer = setTimeout(poll, POLL_MS);
      })
      .catch(function (err) {
        setStatus("error", "cannot reach the control API (" + err.message + "); retrying");
        timer = setTimeout(poll, POLL_MS);
      });
  }

  // ── rendering ──
  function originForUpstream(view, id) {
    if (id.indexOf("shield:") !== 0) return view.origins.find(function (o) { return o.id === id; });
    var region = id.slice(7, id.lastIndexOf(":"));
    return view.origins.find(function (o) { return o.region === region; });
  }

  /** Requests each POP sent each upstream since a view about 10 s ago. */
  function upstreamDeltas(view) {
    var old = null;
    for (var i = recent.length - 1; i >= 0; i--) { old = recent[i]; if (view.generatedAt - old.generatedAt >= 8000) break; }
    var out = {};
    view.pops.forEach(function (p) {
      var before = old && old.pops.find(function (q) { return q.name === p.name; });
      out[p.name] = {};
      Object.keys(p.origins).forEach(function (id) {
        var was = before && before.origins[id] ? before.origins[id].requests : p.origins[id].requests;
        out[p.name][id] = Math.max(0, p.origins[id].requests - was);
      });
    });
    return out;
  }

  function renderMap(view) {
    var links = [];
    var nodes = [];
    var deltas = upstreamDeltas(view);
    view.pops.forEach(function (p) {
      if (p.latitude === null) return;
      var from = project(p.longitude, p.latitude);
      var d = deltas[p.name] || {};
      var total = Object.keys(d).reduce(function (a, k) { return a + d[k]; }, 0);
      Object.keys(d).forEach(function (id) {
        if (d[id] <= 0) return;
        var origin = originForUpstream(view, id);
        if (!origin) return;
        var to = project(origin.longitude, origin.latitude);
        var share = d[id] / total;
        links.push(svgEl("line", { x1: from[0], y1: from[1], x2: to[0], y2: to[1], "class": id.indexOf("shield:") === 0 ? "link shield" : "link", "stroke-width": (1 + 4 * share).toFixed(1), "data-link": p.name + ">" + id }));
      });
    });
    view.pops.forEach(function (p) {
      if (p.latitude === null) return;
      var at = project(p.longitude, p.latitude);
      var rps = p.window ? p.window.requestsPerSecond : 0;
      var radius = 5 + Math.min(10, Math.sqrt(rps));
      var hit = p.window ? p.window.hitRatio : null;
      var title = shortName(p.name) + (p.city ? " (" + p.city + ")" : "") + ": " + rate(rps) + " req/s, hit ratio " + pct(hit);
      nodes.push(svgEl("circle", { cx: at[0], cy: at[1], r: radius.toFixed(1), "class": "pop", fill: hitColour(hit), "data-pop": p.name }, svgEl("title", null, title)));
      nodes.push(svgEl("text", { x: at[0] + radius + 3, y: at[1] - radius, "class": "node-label" }, shortName(p.name)));
    });
    view.origins.forEach(function (o) {
      var at = project(o.longitude, o.latitude);
      var title = o.id + ": " + (o.healthy ? "healthy" : "down" + (o.reason ? " (" + o.reason + ")" : ""));
      nodes.push(svgEl("rect", { x: at[0] - 6, y: at[1] - 6, width: 12, height: 12, "class": "origin " + (o.healthy ? "healthy" : "unhealthy"), "data-origin": o.id, "data-healthy": String(o.healthy) }, svgEl("title", null, title)));
      nodes.push(svgEl("text", { x: at[0] + 9, y: at[1] + 14, "class": "node-label" }, o.id));
    });
    replaceChildren(byId("map-links"), links);
    replaceChildren(byId("map-nodes"), nodes);
  }

  function sparkline(points) {
    var width = 80, height = 18;
    var svg = svgEl("svg", { width: width, height: height, "class": "spark" });
    if (points.length < 2) return svg;
    var max = Math.max.apply(null, points.map(function (p) { return p.requestsPerSecond; }).concat([1]));
    var coords = points.map(function (p, i) {
      return ((i / (points.length - 1)) * width).toFixed(1) + "," + (height - 1 - (p.requestsPerSecond / max) * (height - 2)).toFixed(1);
    });
    svg.appendChild(svgEl("polyline", { points: coords.join(" "), fill: "none", stroke: "#58a6ff", "stroke-width": 1.2 }));
    return svg;
  }

  function renderPops(view) {
    var rows = view.pops.map(function (p) {
      var w = p.window || {};
      // The upstreams it uses (or has ejected); the rest say nothing.
      var chips = Object.keys(p.origins).sort().filter(function (id) { return p.origins[id].requests > 0 || p.origins[id].ejected; }).map(function (id) {
        var o = p.origins[id];
        return el("span", { "class": "chip " + (o.ejected ? "bad" : "ok"), "data-pop-origin": id, "data-ejected": String(o.ejected) }, id.replace(/^shield:/, "shield ") + (o.ejected ? " ejected" : ""));
      });
      return el("tr", { "data-pop": p.name, "data-hit-ratio": w.hitRatio === undefined || w.hitRatio === null ? "" : w.hitRatio.toFixed(4), "data-requests": p.totals.requests }, [
        el("td", null, [el("strong", null, shortName(p.name)), p.city ? el("div", { "class": "sub" }, p.city) : null]),
        el("td", null, el("span", { "class": "chip " + (p.mode === "long-poll" ? "ok" : "warn") }, p.mode === "long-poll" ? "held sync" : "polling")),
        el("td", null, rate(w.requestsPerSecond)),
        el("td", null, sparkline(p.rates)),
        el("td", { "class": "hit-ratio" }, pct(w.hitRatio)),
        el("td", null, pct(w.byteOffload)),
        el("td", null, ms(w.p50Ms)),
        el("td", null, ms(w.p99Ms)),
        el("td", null, w.servedBytesPerSecond === undefined ? "–" : bytes(w.servedBytesPerSecond)),
        el("td", { "class": "wrap" }, chips.length ? chips : "–"),
      ]);
    });
    replaceChildren(document.querySelector("#pops tbody"), rows.length ? rows : el("tr", null, el("td", { colspan: 10, "class": "sub" }, "No POP has synced yet.")));
  }

  function renderOrigins(view) {
    var rows = view.origins.map(function (o) {
      return el("tr", { "data-origin": o.id, "data-healthy": String(o.healthy) }, [
        el("td", null, el("strong", null, o.id)),
        el("td", null, o.region || "–"),
        el("td", null, [el("span", { "class": "chip " + (o.healthy ? "ok" : "bad") }, o.healthy ? "healthy" : "down"), o.reason ? el("span", { "class": "sub" }, " " + o.reason) : null]),
        el("td", null, o.probe ? [el("span", { "class": "chip " + (o.probe.up ? "ok" : "bad") }, o.probe.up ? "up" : "down"), " " + o.probe.lastResult + (o.probe.latencyMs !== null ? ", " + ms(o.probe.latencyMs) : "")] : "not probed yet"),
        el("td", null, o.ejectedBy.length ? o.ejectedBy.map(function (p) { return el("span", { "class": "chip bad" }, shortName(p)); }) : "–"),
      ]);
    });
    replaceChildren(document.querySelector("#origins tbody"), rows);
  }

  function renderPurges(view) {
    var items = view.purges.map(function (p) {
      var reach;
      if (p.reachedAllMs !== null) reach = el("span", { "class": "chip ok" }, "every POP in " + ms(p.reachedAllMs));
      else reach = el("span", { "class": "chip warn" }, "waiting for " + p.pops.filter(function (x) { return x.ms === null && !x.idle; }).map(function (x) { return shortName(x.name); }).join(", "));
      var idle = p.pops.filter(function (x) { return x.idle; }).map(function (x) { return shortName(x.name); });
      var per = p.pops.filter(function (x) { return x.ms !== null; }).map(function (x) { return shortName(x.name) + " " + ms(x.ms); }).join(" · ");
      return el("li", { "data-purge-id": p.id }, [
        el("span", { "class": "when" }, clock(p.at)),
        (p.soft ? "soft purge: " : "purge: ") + p.targets.join(", ") + " ",
        reach,
        per ? el("div", { "class": "sub" }, per) : null,
        idle.length ? el("div", { "class": "sub" }, "idle (applies before its next answer): " + idle.join(", ")) : null,
      ]);
    });
    replaceChildren(byId("purges"), items.length ? items : el("li", { "class": "empty" }, "No purges since the control plane started."));
  }

  function renderEvents(view) {
    var words = { ejected: "ejected", restored: "restored", "origin-down": "down (probes)", "origin-up": "up (probes)" };
    var items = view.events.map(function (e) {
      var bad = e.kind === "ejected" || e.kind === "origin-down";
      return el("li", { "data-event": e.kind, "data-event-origin": e.origin }, [
        el("span", { "class": "when" }, clock(e.at)),
        el("span", { "class": "chip " + (bad ? "bad" : "ok") }, e.origin + " " + words[e.kind]),
        e.pop ? " by " + shortName(e.pop) : "",
        e.detail ? el("span", { "class": "sub" }, " " + e.detail) : null,
      ]);
    });
    replaceChildren(byId("events"), items.length ? items : el("li", { "class": "empty" }, "No health changes or ejections recently."));
  }

  function renderTiles(view) {
    var rps = 0, hits = 0, lookups = 0, served = 0, offloaded = 0, offloadWeight = 0;
    view.pops.forEach(function (p) {
      if (!p.window) return;
      var w = p.window;
      rps += w.requestsPerSecond;
      if (w.hitRatio !== undefined && w.hitRatio !== null) { var n = w.requestsPerSecond; hits += w.hitRatio * n; lookups += n; }
      served += w.servedBytesPerSecond;
      if (w.byteOffload !== undefined && w.byteOffload !== null) { offloadWeight += w.servedBytesPerSecond; offloaded += w.byteOffload * w.servedBytesPerSecond; }
    });
    byId("tile-rps").textContent = rate(rps);
    byId("tile-hit").textContent = lookups > 0 ? pct(hits / lookups) : "–";
    byId("tile-offload").textContent = offloadWeight > 0 ? pct(offloaded / offloadWeight) : "–";
    byId("tile-served").textContent = bytes(served) + "/s";
    var healthy = view.origins.filter(function (o) { return o.healthy; }).length;
    byId("tile-origins").textContent = healthy + " / " + view.origins.length;
    byId("window").textContent = String(view.windowSeconds);
  }

  function render(view) {
    recent.push(view);
    while (recent.length > 12) recent.shift();
    renderTiles(view);
    renderMap(view);
    renderPops(view);
    renderOrigins(view);
    renderPurges(view);
    renderEvents(view);
  }

  document.addEventListener("DOMContentLoaded", function () {
    takeTokenFromFragment();
    byId("signin").addEventListener("submit", function (event) {
      event.preventDefault();
      var value = byId("token").value.trim();
      byId("token").value = "";
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      poll();
    });
    // A #token link opened on this page already: take it too.
    window.addEventListener("hashchange", function () {
      if (!/token=/.test(location.hash)) return;
      takeTokenFromFragment();
      if (timer) clearTimeout(timer);
      poll();
    });
    poll();
  });
})();
`;

export const DASHBOARD_JS = APP_JS.replace("__MAP__", JSON.stringify(MAP)).replace("__POLL_MS__", String(POLL_MS));
