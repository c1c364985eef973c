/**
 * What the dashboard shows, built from the control plane's state in one
 * pass: every POP and origin with where they are, each origin's health as
 * the probes and as each POP see it, each POP's figures over the last
 * minute, recent purges with the time they took to reach each POP, and
 * recent health changes and ejections. Pure.
 */
import type { OutpostConfig } from "../common/config";
import type { LiveFigures } from "./live";
import type { PurgeTarget } from "../common/snapshot";
import type { DashboardOrigin, DashboardPop, DashboardPurge, DashboardView, HealthReport, LiveEvent, PopSync } from "./views";
import { idleSince } from "./colos";

/** The window the dashboard's rates and percentiles cover. */
export const DASHBOARD_WINDOW_MS = 60_000;

export type { DashboardOrigin, DashboardPop, DashboardPurge, DashboardView } from "./views";

function describeTarget(target: PurgeTarget): string {
  return target.kind === "everything" ? "everything" : `${target.kind} ${target.value}`;
}

/** Probe transitions (rows, which survive a restart) and the live list (which has them too since the start), one of each, newest first. */
function recentEvents(health: HealthReport, live: LiveFigures): LiveEvent[] {
  const probeEvents: LiveEvent[] = health.transitions.map((t) => ({ at: t.at, kind: t.to === "down" ? "origin-down" : "origin-up", origin: t.originId, detail: t.reason }));
  const seen = new Set<string>();
  return [...probeEvents, ...live.events]
    .filter((e) => {
      const key = `${e.at}|${e.kind}|${e.origin}|${e.pop ?? ""}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => b.at - a.at)
    .slice(0, 50);
}

function dashboardPop(p: PopSync, live: LiveFigures, now: number): DashboardPop {
  const timeline = live.timelines.get(p.name);
  const c = p.counters;
  return {
    name: p.name,
    latitude: p.location?.latitude ?? null,
    longitude: p.location?.longitude ?? null,
    city: p.location?.city ?? null,
    mode: p.mode ?? "poll",
    lastSyncAt: p.lastSyncAt,
    purgeSeqApplied: p.purgeSeqApplied,
    window: timeline?.stats(DASHBOARD_WINDOW_MS, now) ?? null,
    totals: { requests: c.requests ?? 0, hits: c.hits ?? 0, misses: c.misses ?? 0, servedBytes: c.servedBytes ?? 0, originBytes: c.originBytes ?? 0 },
    rates: timeline?.rates().slice(-120) ?? [],
    origins: Object.fromEntries(Object.entries(p.origins).map(([id, o]) => [id, { ejected: o.ejected ?? false, requests: o.requests, errors: o.errors }])),
  };
}

function dashboardOrigin(o: OutpostConfig["origins"][number], health: HealthReport, pops: PopSync[]): DashboardOrigin {
  const h = health.origins[o.id];
  return {
    id: o.id,
    region: o.region ?? null,
    latitude: o.latitude,
    longitude: o.longitude,
    healthy: h?.healthy ?? true,
    reason: h?.reason ?? null,
    probe: h?.active ? { up: h.active.healthy, lastResult: h.active.lastResult, latencyMs: h.active.latencyMs } : null,
    ejectedBy: pops.filter((p) => p.origins[o.id]?.ejected).map((p) => p.name),
  };
}

/** Each POP a purge had to reach: reached when every one of its isolates got it. */
function dashboardPurge(p: LiveFigures["purges"][number], isolates: [string, PopSync][]): DashboardPurge {
  // The isolates it had to reach: those known when it was accepted.
  const byPop = new Map<string, [string, PopSync][]>();
  for (const entry of isolates) {
    const [, row] = entry;
    if ((row.since ?? 0) > p.at) continue;
    const members = byPop.get(row.name);
    if (members) members.push(entry);
    else byPop.set(row.name, [entry]);
  }
  const reached = [...byPop].map(([name, members]) => {
    const times = members.map(([key]) => p.reachedMs.get(key));
    const ms = times.every((t) => t !== undefined) ? Math.max(...(times as number[])) : null;
    const idle = ms === null && members.every(([key, row]) => p.reachedMs.has(key) || idleSince(row, p.at));
    return { name, ms, idle };
  });
  const all = reached.every((r) => r.ms !== null || r.idle);
  return {
    id: p.id,
    at: p.at,
    soft: p.soft,
    targets: p.targets
      .slice(0, 5)
      .map(describeTarget)
      .concat(p.targets.length > 5 ? [`… ${p.targets.length - 5} more`] : []),
    reachedAllMs: all ? Math.max(0, ...reached.map((r) => r.ms ?? 0)) : null,
    pops: reached,
  };
}

/** `pops`: each POP, its isolates summed; `isolates`: each isolate's row, by memberKey. */
export function buildDashboardView(
  config: OutpostConfig,
  pops: PopSync[],
  isolates: Iterable<[string, PopSync]>,
  health: HealthReport,
  live: LiveFigures,
  purgeLog: Pick<DashboardView, "purgeSeq" | "catchUps" | "relays">,
  now: number,
): DashboardView {
  const members = [...isolates];
  return {
    generatedAt: now,
    windowSeconds: DASHBOARD_WINDOW_MS / 1000,
    ...purgeLog,
    pops: pops.filter((p) => !p.name.includes("-Shield-")).map((p) => dashboardPop(p, live, now)),
    origins: config.origins.map((o) => dashboardOrigin(o, health, pops)),
    purges: [...live.purges].reverse().map((p) => dashboardPurge(p, members)),
    events: recentEvents(health, live),
  };
}
