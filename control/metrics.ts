/**
 * Prometheus text exposition of what POPs report and what the control plane
 * knows about origins and purges. Every family is declared once, in
 * POP_COUNTERS, POP_SERIES (edge/metrics/) or CONTROL_METRICS below, and the
 * exposition is generated from those declarations. Pure.
 */
import type { HealthReport, PopSync } from "./views";
import type { ColoView } from "./colos";
import { POP_COUNTERS } from "../common/metrics/counters";
import { LATENCY_BUCKETS_SECONDS, parseSeriesKey, POP_SERIES, type SeriesDeclaration, type SeriesValues } from "../common/metrics/series";

type Labels = Record<string, string>;

interface Declaration {
  metric: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
  labels: readonly string[];
}

/** What the control plane exports of its own (and of each POP as it last reported). */
export const CONTROL_METRICS = {
  originPopRequests: { metric: "outpost_origin_pop_requests_total", type: "counter", help: "Forward trips per POP and origin (or shield shard).", labels: ["pop", "origin"] },
  originPopErrors: { metric: "outpost_origin_pop_errors_total", type: "counter", help: "Failed forward trips per POP and origin (or shield shard).", labels: ["pop", "origin"] },
  ejectionsActive: {
    metric: "outpost_origin_ejections_active",
    type: "gauge",
    help: "1 while the POP keeps the origin ejected (passive health, as Envoy's ejections_active).",
    labels: ["pop", "origin"],
  },
  ejectionsEnforced: {
    metric: "outpost_origin_ejections_enforced_total",
    type: "counter",
    help: "Ejections the POP has made of the origin (as Envoy's ejections_enforced_total).",
    labels: ["pop", "origin"],
  },
  originHealthy: {
    metric: "outpost_origin_healthy",
    type: "gauge",
    help: "1 when the control plane considers the origin healthy (probes, and no POP's ejection running).",
    labels: ["origin"],
  },
  probeUp: { metric: "outpost_origin_probe_up", type: "gauge", help: "1 when the active health probes find the origin up.", labels: ["origin"] },
  probeLatency: { metric: "outpost_origin_probe_latency_seconds", type: "gauge", help: "The last health probe's response time.", labels: ["origin"] },
  purgeSeq: { metric: "outpost_purge_seq", type: "gauge", help: "The highest purge sequence number issued.", labels: [] },
  purgeRulesRetained: { metric: "outpost_purge_rules_retained", type: "gauge", help: "Purge rules the control plane keeps (rows), within the retention window.", labels: [] },
  popPurgeSeqApplied: { metric: "outpost_pop_purge_seq_applied", type: "gauge", help: "The highest purge sequence number a POP has applied.", labels: ["pop"] },
  purgeLag: { metric: "outpost_purge_lag_seconds", type: "gauge", help: "Purge accepted to applied at the POP, for its latest purge.", labels: ["pop"] },
  purgePropagation: {
    metric: "outpost_purge_propagation_seconds",
    type: "histogram",
    help: "Purge accepted to delivered to the POP (in a sync answer), since the control plane started.",
    labels: ["pop"],
  },
  popLastSync: { metric: "outpost_pop_last_sync_timestamp_seconds", type: "gauge", help: "When the POP last synced with the control plane.", labels: ["pop"] },
  popIsolates: {
    metric: "outpost_pop_isolates",
    type: "gauge",
    help: "Isolates of the POP the control plane knows (a colo runs several); the POP's counters are their sum, gone ones included.",
    labels: ["pop"],
  },
  popLongPoll: { metric: "outpost_pop_long_poll", type: "gauge", help: "1 when the POP keeps a held sync (long poll), 0 when it polls at intervals.", labels: ["pop"] },
  heldSyncs: { metric: "outpost_held_syncs", type: "gauge", help: "Syncs the control plane is holding now.", labels: [] },
  catchUps: {
    metric: "outpost_purge_catch_ups_total",
    type: "counter",
    help: "Folded catch-ups served (to isolates too far behind to page through purge rules), since the control plane started.",
    labels: [],
  },
  catchUpBytes: { metric: "outpost_purge_catch_up_bytes", type: "gauge", help: "The size of the last folded catch-up served.", labels: [] },
  relayHeldSyncs: {
    metric: "outpost_relay_held_syncs",
    type: "gauge",
    help: "Isolates' syncs each regional relay holds now, as its last batch said (relays heard from within two minutes).",
    labels: ["relay"],
  },
} as const satisfies Record<string, Declaration>;

/** Every family in the exposition, as declared. */
export function declaredFamilies(): Declaration[] {
  const pop: Declaration[] = Object.values(POP_COUNTERS).map(({ metric, help }) => ({ metric, type: "counter", help, labels: ["pop"] }));
  const series: Declaration[] = Object.values(POP_SERIES).map((d: SeriesDeclaration) => ({
    metric: d.metric,
    type: d.type,
    help: d.help,
    labels: ["pop", ...d.labels.map(([name]) => name)],
  }));
  return [...pop, ...series, ...Object.values(CONTROL_METRICS)];
}

/** Every sample name the exposition can hold (a histogram's _bucket, _sum and _count). */
export function exportedSampleNames(): string[] {
  return declaredFamilies().flatMap((f) => (f.type === "histogram" ? [`${f.metric}_bucket`, `${f.metric}_sum`, `${f.metric}_count`] : [f.metric]));
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6)));
}

/** Writes one family: HELP, TYPE, then its samples (a histogram's from bucket counts, not cumulative, then the sum). */
class Exposition {
  private readonly lines: string[] = [];

  family(declaration: Declaration, samples: Iterable<[Labels, number | SeriesValues]>): void {
    this.lines.push(`# HELP ${declaration.metric} ${declaration.help}`, `# TYPE ${declaration.metric} ${declaration.type}`);
    for (const [labels, value] of samples) {
      if (declaration.type !== "histogram") {
        this.lines.push(`${declaration.metric}${labelText(labels)} ${formatNumber(value as number)}`);
        continue;
      }
      const buckets = value as SeriesValues;
      let cumulative = 0;
      for (let i = 0; i <= LATENCY_BUCKETS_SECONDS.length; i++) {
        cumulative += buckets[i] ?? 0;
        const le = i < LATENCY_BUCKETS_SECONDS.length ? String(LATENCY_BUCKETS_SECONDS[i]) : "+Inf";
        this.lines.push(`${declaration.metric}_bucket${labelText({ ...labels, le })} ${cumulative}`);
      }
      this.lines.push(`${declaration.metric}_sum${labelText(labels)} ${formatNumber(buckets[LATENCY_BUCKETS_SECONDS.length + 1] ?? 0)}`);
      this.lines.push(`${declaration.metric}_count${labelText(labels)} ${cumulative}`);
    }
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

export interface MetricsInput {
  pops: ColoView[];
  health: HealthReport;
  purgeSeq: number;
  purgeRulesRetained: number;
  heldSyncs: number;
  purgePropagation: Record<string, SeriesValues>;
  /** Folded catch-ups served, and the last one's bytes. */
  catchUps: { served: number; lastBytes: number };
  /** Held syncs by regional relay. */
  relays: Record<string, number>;
}

const each = function* <T>(items: Iterable<T>, f: (item: T) => Iterable<[Labels, number | SeriesValues]>) {
  for (const item of items) yield* f(item);
};

/** Each POP's counters and labelled series, as declared once in common/metrics. */
function popFamilies(out: Exposition, pops: PopSync[]): void {
  for (const [key, declaration] of Object.entries(POP_COUNTERS)) {
    out.family(
      { ...declaration, type: "counter", labels: ["pop"] },
      pops.map((p) => [{ pop: p.name }, p.counters[key] ?? 0]),
    );
  }
  for (const [name, declaration] of Object.entries(POP_SERIES) as [string, SeriesDeclaration][]) {
    const labelNames = declaration.labels.map(([label]) => label);
    out.family(
      { ...declaration, labels: ["pop", ...labelNames] },
      each(pops, function* (p) {
        for (const [key, values] of Object.entries(p.series ?? {})) {
          const parsed = parseSeriesKey(key);
          if (parsed?.name !== name) continue;
          yield [{ pop: p.name, ...Object.fromEntries(labelNames.map((label, i) => [label, parsed.labelValues[i]])) }, declaration.type === "histogram" ? values : values[0]];
        }
      }),
    );
  }
}

/** Origins as each POP sees them, and as the probes do. */
function originFamilies(out: Exposition, pops: PopSync[], health: MetricsInput["health"]): void {
  const originViews = (f: (o: PopSync["origins"][string]) => number) =>
    each(pops, (p) => Object.entries(p.origins).map(([origin, o]): [Labels, number] => [{ pop: p.name, origin }, f(o)]));
  out.family(
    CONTROL_METRICS.originPopRequests,
    originViews((o) => o.requests),
  );
  out.family(
    CONTROL_METRICS.originPopErrors,
    originViews((o) => o.errors),
  );
  out.family(
    CONTROL_METRICS.ejectionsActive,
    originViews((o) => (o.ejected ? 1 : 0)),
  );
  out.family(
    CONTROL_METRICS.ejectionsEnforced,
    originViews((o) => o.ejections ?? 0),
  );
  const origins = Object.entries(health.origins);
  out.family(
    CONTROL_METRICS.originHealthy,
    origins.map(([origin, h]) => [{ origin }, h.healthy ? 1 : 0]),
  );
  out.family(
    CONTROL_METRICS.probeUp,
    origins.flatMap(([origin, h]): [Labels, number][] => (h.active ? [[{ origin }, h.active.healthy ? 1 : 0]] : [])),
  );
  out.family(
    CONTROL_METRICS.probeLatency,
    origins.flatMap(([origin, h]): [Labels, number][] => (h.active?.latencyMs != null ? [[{ origin }, h.active.latencyMs / 1000]] : [])),
  );
}

/** Purges and syncs: the control plane's own figures. */
function controlFamilies(out: Exposition, input: MetricsInput): void {
  const { pops } = input;
  out.family(CONTROL_METRICS.purgeSeq, [[{}, input.purgeSeq]]);
  out.family(CONTROL_METRICS.purgeRulesRetained, [[{}, input.purgeRulesRetained]]);
  out.family(
    CONTROL_METRICS.popPurgeSeqApplied,
    pops.map((p) => [{ pop: p.name }, p.purgeSeqApplied]),
  );
  out.family(
    CONTROL_METRICS.purgeLag,
    pops.flatMap((p): [Labels, number][] => (p.lastPurgeLagMs !== null ? [[{ pop: p.name }, p.lastPurgeLagMs / 1000]] : [])),
  );
  out.family(
    CONTROL_METRICS.purgePropagation,
    Object.entries(input.purgePropagation).map(([pop, values]) => [{ pop }, values]),
  );
  out.family(
    CONTROL_METRICS.popLastSync,
    pops.map((p) => [{ pop: p.name }, p.lastSyncAt / 1000]),
  );
  out.family(
    CONTROL_METRICS.popLongPoll,
    pops.map((p) => [{ pop: p.name }, p.mode === "long-poll" ? 1 : 0]),
  );
  out.family(
    CONTROL_METRICS.popIsolates,
    pops.map((p) => [{ pop: p.name }, p.isolates]),
  );
  out.family(CONTROL_METRICS.heldSyncs, [[{}, input.heldSyncs]]);
  out.family(CONTROL_METRICS.catchUps, [[{}, input.catchUps.served]]);
  out.family(CONTROL_METRICS.catchUpBytes, [[{}, input.catchUps.lastBytes]]);
  out.family(
    CONTROL_METRICS.relayHeldSyncs,
    Object.entries(input.relays).map(([relay, held]) => [{ relay }, held]),
  );
}

export function renderMetrics(input: MetricsInput): string {
  const out = new Exposition();
  popFamilies(out, input.pops);
  originFamilies(out, input.pops, input.health);
  controlFamilies(out, input);
  return out.text();
}
