/**
 * The live dashboard: one HTML page, its stylesheet and its script, served
 * by the control API from this module (no external scripts, fonts or tiles:
 * it works offline). The script is TypeScript in browser/, bundled into
 * app.generated.ts (npm run build:dashboard).
 */
import { MAP, worldPath } from "./world";

export { DASHBOARD_JS } from "./app.generated";

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
      <h2>Recent purges <span class="sub" id="purge-log"></span></h2>
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
