/** The tiles, the POP and origin tables, and the purge and event lists. */
import type { DashboardPop, DashboardView } from "../../dashboard-view";
import { byId, el, replaceChildren, svgEl } from "./dom";
import { bytes, clock, ms, pct, rate, shortName } from "./format";

function sparkline(points: DashboardPop["rates"]): SVGElement {
  const width = 80;
  const height = 18;
  const svg = svgEl("svg", { width, height, class: "spark" });
  if (points.length < 2) return svg;
  const max = Math.max(1, ...points.map((p) => p.requestsPerSecond));
  const coords = points.map((p, i) => `${((i / (points.length - 1)) * width).toFixed(1)},${(height - 1 - (p.requestsPerSecond / max) * (height - 2)).toFixed(1)}`);
  svg.appendChild(svgEl("polyline", { points: coords.join(" "), fill: "none", stroke: "#58a6ff", "stroke-width": 1.2 }));
  return svg;
}

function popRow(pop: DashboardPop): HTMLElement {
  const w = pop.window;
  // The upstreams it uses (or has ejected); the rest say nothing.
  const chips = Object.keys(pop.origins)
    .sort()
    .filter((id) => pop.origins[id].requests > 0 || pop.origins[id].ejected)
    .map((id) => {
      const o = pop.origins[id];
      return el(
        "span",
        { class: `chip ${o.ejected ? "bad" : "ok"}`, "data-pop-origin": id, "data-ejected": String(o.ejected) },
        id.replace(/^shield:/, "shield ") + (o.ejected ? " ejected" : ""),
      );
    });
  const held = pop.mode === "long-poll";
  return el("tr", { "data-pop": pop.name, "data-hit-ratio": w?.hitRatio === undefined ? "" : w.hitRatio.toFixed(4), "data-requests": pop.totals.requests }, [
    el("td", null, [el("strong", null, shortName(pop.name)), pop.city ? el("div", { class: "sub" }, pop.city) : null]),
    el("td", null, el("span", { class: `chip ${held ? "ok" : "warn"}` }, held ? "held sync" : "polling")),
    el("td", null, rate(w?.requestsPerSecond)),
    el("td", null, sparkline(pop.rates)),
    el("td", { class: "hit-ratio" }, pct(w?.hitRatio)),
    el("td", null, pct(w?.byteOffload)),
    el("td", null, ms(w?.p50Ms)),
    el("td", null, ms(w?.p99Ms)),
    el("td", null, w ? bytes(w.servedBytesPerSecond) : "–"),
    el("td", { class: "wrap" }, chips.length ? chips : "–"),
  ]);
}

export function renderPops(view: DashboardView): void {
  const rows = view.pops.map(popRow);
  replaceChildren(document.querySelector("#pops tbody"), rows.length ? rows : el("tr", null, el("td", { colspan: 10, class: "sub" }, "No POP has synced yet.")));
}

export function renderOrigins(view: DashboardView): void {
  const rows = view.origins.map((o) => {
    const probe = o.probe
      ? [
          el("span", { class: `chip ${o.probe.up ? "ok" : "bad"}` }, o.probe.up ? "up" : "down"),
          ` ${o.probe.lastResult}${o.probe.latencyMs !== null ? `, ${ms(o.probe.latencyMs)}` : ""}`,
        ]
      : "not probed yet";
    return el("tr", { "data-origin": o.id, "data-healthy": String(o.healthy) }, [
      el("td", null, el("strong", null, o.id)),
      el("td", null, o.region ?? "–"),
      el("td", null, [el("span", { class: `chip ${o.healthy ? "ok" : "bad"}` }, o.healthy ? "healthy" : "down"), o.reason ? el("span", { class: "sub" }, ` ${o.reason}`) : null]),
      el("td", null, probe),
      el("td", null, o.ejectedBy.length ? o.ejectedBy.map((p) => el("span", { class: "chip bad" }, shortName(p))) : "–"),
    ]);
  });
  replaceChildren(document.querySelector("#origins tbody"), rows);
}

export function renderPurges(view: DashboardView): void {
  const items = view.purges.map((p) => {
    const waiting = p.pops.filter((x) => x.ms === null && !x.idle).map((x) => shortName(x.name));
    const reach =
      p.reachedAllMs !== null ? el("span", { class: "chip ok" }, `every POP in ${ms(p.reachedAllMs)}`) : el("span", { class: "chip warn" }, `waiting for ${waiting.join(", ")}`);
    const idle = p.pops.filter((x) => x.idle).map((x) => shortName(x.name));
    const per = p.pops
      .filter((x) => x.ms !== null)
      .map((x) => `${shortName(x.name)} ${ms(x.ms)}`)
      .join(" · ");
    return el("li", { "data-purge-id": p.id }, [
      el("span", { class: "when" }, clock(p.at)),
      `${p.soft ? "soft purge: " : "purge: "}${p.targets.join(", ")} `,
      reach,
      per ? el("div", { class: "sub" }, per) : null,
      idle.length ? el("div", { class: "sub" }, `idle (applies before its next answer): ${idle.join(", ")}`) : null,
    ]);
  });
  replaceChildren(byId("purges"), items.length ? items : el("li", { class: "empty" }, "No purges since the control plane started."));
  // New isolates far behind take the folded catch-up rather than the log: how many, and how large.
  const { served, lastBytes } = view.catchUps;
  const relays = Object.entries(view.relays)
    .map(([name, held]) => `${name} ${held}`)
    .join(", ");
  byId("purge-log").textContent =
    `sequence ${view.purgeSeq} · ${served} catch-up${served === 1 ? "" : "s"} served${served ? ` (last ${(lastBytes / 1024).toFixed(0)} KiB)` : ""}` +
    (relays ? ` · syncs held by relay: ${relays}` : "");
}

const EVENT_WORDS: Record<DashboardView["events"][number]["kind"], string> = {
  ejected: "ejected",
  restored: "restored",
  "origin-down": "down (probes)",
  "origin-up": "up (probes)",
};

export function renderEvents(view: DashboardView): void {
  const items = view.events.map((e) => {
    const bad = e.kind === "ejected" || e.kind === "origin-down";
    return el("li", { "data-event": e.kind, "data-event-origin": e.origin }, [
      el("span", { class: "when" }, clock(e.at)),
      el("span", { class: `chip ${bad ? "bad" : "ok"}` }, `${e.origin} ${EVENT_WORDS[e.kind]}`),
      e.pop ? ` by ${shortName(e.pop)}` : "",
      e.detail ? el("span", { class: "sub" }, ` ${e.detail}`) : null,
    ]);
  });
  replaceChildren(byId("events"), items.length ? items : el("li", { class: "empty" }, "No health changes or ejections recently."));
}

/** The network's totals: rates summed, ratios weighted by the traffic they describe. */
export function renderTiles(view: DashboardView): void {
  let rps = 0;
  let hits = 0;
  let lookups = 0;
  let served = 0;
  let offloaded = 0;
  let offloadWeight = 0;
  for (const { window: w } of view.pops) {
    if (!w) continue;
    rps += w.requestsPerSecond;
    if (w.hitRatio !== undefined) {
      hits += w.hitRatio * w.requestsPerSecond;
      lookups += w.requestsPerSecond;
    }
    served += w.servedBytesPerSecond;
    if (w.byteOffload !== undefined) {
      offloadWeight += w.servedBytesPerSecond;
      offloaded += w.byteOffload * w.servedBytesPerSecond;
    }
  }
  byId("tile-rps").textContent = rate(rps);
  byId("tile-hit").textContent = lookups > 0 ? pct(hits / lookups) : "–";
  byId("tile-offload").textContent = offloadWeight > 0 ? pct(offloaded / offloadWeight) : "–";
  byId("tile-served").textContent = `${bytes(served)}/s`;
  byId("tile-origins").textContent = `${view.origins.filter((o) => o.healthy).length} / ${view.origins.length}`;
  byId("window").textContent = String(view.windowSeconds);
}
