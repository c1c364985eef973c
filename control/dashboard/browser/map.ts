/** The world map: POPs sized by requests and coloured by hit ratio, origins by health, links by recent misses. */
import type { DashboardOrigin, DashboardView } from "../../dashboard-view";
import { project } from "../world";
import { byId, replaceChildren, svgEl } from "./dom";
import { hitColour, pct, rate, shortName } from "./format";

/** Recent views, newest last: link lines compare upstream request counts with a view ~10 s old. */
const recent: DashboardView[] = [];
const RECENT_VIEWS = 12;

export function remember(view: DashboardView): void {
  recent.push(view);
  while (recent.length > RECENT_VIEWS) recent.shift();
}

/** The origin an upstream id stands for: itself, or the region a shield shard (`shield:<region>:<n>`) serves. */
function originForUpstream(view: DashboardView, id: string): DashboardOrigin | undefined {
  if (!id.startsWith("shield:")) return view.origins.find((o) => o.id === id);
  const region = id.slice("shield:".length, id.lastIndexOf(":"));
  return view.origins.find((o) => o.region === region);
}

/** Requests each POP sent each upstream since a view about 10 s ago. */
function upstreamDeltas(view: DashboardView): Record<string, Record<string, number>> {
  let old: DashboardView | undefined;
  for (let i = recent.length - 1; i >= 0; i--) {
    old = recent[i];
    if (view.generatedAt - old.generatedAt >= 8000) break;
  }
  const out: Record<string, Record<string, number>> = {};
  for (const pop of view.pops) {
    const before = old?.pops.find((q) => q.name === pop.name);
    out[pop.name] = {};
    for (const [id, now] of Object.entries(pop.origins)) {
      const was = before?.origins[id]?.requests ?? now.requests;
      out[pop.name][id] = Math.max(0, now.requests - was);
    }
  }
  return out;
}

function links(view: DashboardView): SVGElement[] {
  const deltas = upstreamDeltas(view);
  const lines: SVGElement[] = [];
  for (const pop of view.pops) {
    if (pop.latitude === null || pop.longitude === null) continue;
    const [x1, y1] = project(pop.longitude, pop.latitude);
    const sent = deltas[pop.name] ?? {};
    const total = Object.values(sent).reduce((a, b) => a + b, 0);
    for (const [id, requests] of Object.entries(sent)) {
      const origin = requests > 0 ? originForUpstream(view, id) : undefined;
      if (!origin) continue;
      const [x2, y2] = project(origin.longitude, origin.latitude);
      const width = (1 + 4 * (requests / total)).toFixed(1);
      lines.push(svgEl("line", { x1, y1, x2, y2, class: id.startsWith("shield:") ? "link shield" : "link", "stroke-width": width, "data-link": `${pop.name}>${id}` }));
    }
  }
  return lines;
}

function nodes(view: DashboardView): SVGElement[] {
  const out: SVGElement[] = [];
  for (const pop of view.pops) {
    if (pop.latitude === null || pop.longitude === null) continue;
    const [cx, cy] = project(pop.longitude, pop.latitude);
    const rps = pop.window?.requestsPerSecond ?? 0;
    const radius = 5 + Math.min(10, Math.sqrt(rps));
    const hit = pop.window?.hitRatio;
    const title = `${shortName(pop.name)}${pop.city ? ` (${pop.city})` : ""}: ${rate(rps)} req/s, hit ratio ${pct(hit)}`;
    out.push(svgEl("circle", { cx, cy, r: radius.toFixed(1), class: "pop", fill: hitColour(hit), "data-pop": pop.name }, svgEl("title", null, title)));
    out.push(svgEl("text", { x: cx + radius + 3, y: cy - radius, class: "node-label" }, shortName(pop.name)));
  }
  for (const origin of view.origins) {
    const [x, y] = project(origin.longitude, origin.latitude);
    const title = `${origin.id}: ${origin.healthy ? "healthy" : `down${origin.reason ? ` (${origin.reason})` : ""}`}`;
    const attributes = {
      x: x - 6,
      y: y - 6,
      width: 12,
      height: 12,
      class: `origin ${origin.healthy ? "healthy" : "unhealthy"}`,
      "data-origin": origin.id,
      "data-healthy": String(origin.healthy),
    };
    out.push(svgEl("rect", attributes, svgEl("title", null, title)));
    out.push(svgEl("text", { x: x + 9, y: y + 14, class: "node-label" }, origin.id));
  }
  return out;
}

export function renderMap(view: DashboardView): void {
  replaceChildren(byId("map-links"), links(view));
  replaceChildren(byId("map-nodes"), nodes(view));
}
