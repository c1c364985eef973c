/**
 * The control plane's truth, apart from the Durable Object that hosts it so
 * Node tests can drive it: run-time origin overrides, origin health (active
 * probes and what POPs report), and what each POP last synced. Every change
 * a POP must see bumps the version POPs compare against.
 */
import { monitorFor, type OutpostConfig } from "../edge/config";
import { applyProbe, initialHealth, probeOrigin, type ActiveHealth, type HealthTransition } from "./health-monitor";
import { purgeOnCloudflare, type CloudflarePurgeOptions, type CloudflarePurgeResult } from "./cloudflare-purge";
import type { OriginHealthView, OriginOverride, PurgeRule, PurgeTarget, Snapshot } from "./snapshot";

export interface PopSync {
  name: string;
  lastSyncAt: number;
  versionApplied: number;
  /** The highest purge sequence number the POP has applied. */
  purgeSeqApplied: number;
  /** Accepted → applied at this POP, for its latest purge (as seen at the next sync). */
  lastPurgeLagMs: number | null;
  counters: Record<string, number>;
  origins: Record<string, PopOriginView>;
}

/** One origin as one POP sees it. */
export interface PopOriginView {
  requests: number;
  errors: number;
  ejected?: boolean;
}

/** What a POP sends with each sync: where it is, and its counters. */
export interface SyncReport {
  pop: string;
  have: number;
  purgeSeq: number;
  counters?: Record<string, number>;
  origins?: Record<string, PopOriginView>;
}

export interface PurgeStatus {
  id: string;
  seq: number;
  at: number;
  soft: boolean;
  targets: PurgeTarget[];
  /** idle: has not synced since the purge; it syncs, and applies it, before answering its next request. */
  pops: { name: string; applied: boolean; idle: boolean; lastSyncAt: number }[];
  cloudflare: CloudflarePurgeResult | "not configured" | "pending";
}

/** A POP's passive verdict on an origin, shared with every POP until it runs out. */
export interface PassiveReport {
  pop: string;
  at: number;
  until: number;
  reason: string;
}

export interface ReportEvent {
  kind: "ejected" | "restored";
  originId: string;
  at: number;
  until?: number;
  reason?: string;
}

export interface ControlData {
  version: number;
  origins: Record<string, OriginOverride>;
  active: Record<string, ActiveHealth>;
  passive: Record<string, PassiveReport>;
  /** The health view last published; a change bumps the version. */
  published: Record<string, OriginHealthView>;
  transitions: HealthTransition[];
  pops: Record<string, PopSync>;
  nextProbeAt: Record<string, number>;
  purgeSeq: number;
  /** Retained purge rules, oldest first. */
  purges: PurgeRule[];
  cloudflare: Record<string, CloudflarePurgeResult | "pending">;
}

export interface ControlOptions {
  cloudflare?: CloudflarePurgeOptions;
  /** Runs work after the answer (the Durable Object's waitUntil). */
  defer?: (work: Promise<unknown>) => void;
  /** How long purge rules are kept: no stored entry outlives it. */
  purgeHorizonMs?: number;
}

/** The storage the state needs: the Durable Object's, or a Map in tests. */
export interface ControlStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
}

export interface HealthReport {
  origins: Record<
    string,
    {
      healthy: boolean;
      reason: string | null;
      active: ActiveHealth | null;
      passive: PassiveReport | null;
      /** As each POP sees it, from its last sync. */
      pops: Record<string, PopOriginView>;
    }
  >;
  transitions: HealthTransition[];
}

const DATA_KEY = "control-data";
const MAX_TRANSITIONS = 200;

function sameView(a: Record<string, OriginHealthView>, b: Record<string, OriginHealthView>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k]?.healthy !== b[k]?.healthy) return false;
  return true;
}

export class ControlState {
  private data: ControlData | undefined;

  constructor(
    private readonly storage: ControlStorage,
    private readonly config: () => OutpostConfig,
    private readonly now: () => number = Date.now,
    private readonly log: (line: string) => void = (line) => console.log(line),
    private readonly options: ControlOptions = {},
  ) {}

  private async load(): Promise<ControlData> {
    if (!this.data) {
      const stored = await this.storage.get<ControlData>(DATA_KEY);
      this.data = {
        version: 1,
        origins: {},
        active: {},
        passive: {},
        published: {},
        transitions: [],
        pops: {},
        nextProbeAt: {},
        purgeSeq: 0,
        purges: [],
        cloudflare: {},
        ...stored,
      };
    }
    return this.data;
  }

  private async save(data: ControlData): Promise<void> {
    await this.storage.put(DATA_KEY, data);
  }

  /** Health as POPs should apply it: down if probes say so, or a POP's ejection still runs. */
  private view(data: ControlData, now: number): Record<string, OriginHealthView> {
    const out: Record<string, OriginHealthView> = {};
    for (const origin of this.config().origins) {
      const active = data.active[origin.id];
      const passive = data.passive[origin.id];
      if (active && !active.healthy) out[origin.id] = { healthy: false, since: active.since, reason: `probes: ${active.lastResult}` };
      else if (passive && passive.until > now) out[origin.id] = { healthy: false, since: passive.at, reason: `ejected by ${passive.pop}: ${passive.reason}` };
      else out[origin.id] = { healthy: true, since: active?.since ?? 0 };
    }
    return out;
  }

  /** Recomputes the published view; a change (including an ejection running out) bumps the version. */
  private async publish(data: ControlData, now: number): Promise<boolean> {
    const view = this.view(data, now);
    if (sameView(view, data.published)) return false;
    data.published = view;
    data.version++;
    await this.save(data);
    return true;
  }

  /**
   * A POP's sync: records where it is (version, purges applied, counters) and
   * answers with the snapshot, purge rules after the ones it has.
   */
  async sync(report: SyncReport): Promise<Snapshot> {
    const data = await this.load();
    const now = this.now();
    await this.publish(data, now);
    const previous = data.pops[report.pop];
    let lastPurgeLagMs = previous?.lastPurgeLagMs ?? null;
    if (report.purgeSeq > (previous?.purgeSeqApplied ?? 0)) {
      const newest = data.purges.find((r) => r.seq === report.purgeSeq);
      if (newest) lastPurgeLagMs = now - newest.at;
    }
    // Sync records live in memory between saves: a write per poll would be wasteful.
    data.pops[report.pop] = {
      name: report.pop,
      lastSyncAt: now,
      versionApplied: report.have,
      purgeSeqApplied: report.purgeSeq,
      lastPurgeLagMs,
      counters: report.counters ?? previous?.counters ?? {},
      origins: report.origins ?? previous?.origins ?? {},
    };
    return this.snapshotFor(data, now, report.purgeSeq);
  }

  async snapshot(popName: string | undefined, have: number): Promise<Snapshot> {
    if (popName) {
      // This form carries no purge sequence: keep the one the POP last reported rather than claim 0.
      const data = await this.load();
      return this.sync({ pop: popName, have, purgeSeq: data.pops[popName]?.purgeSeqApplied ?? 0 });
    }
    const data = await this.load();
    const now = this.now();
    await this.publish(data, now);
    return this.snapshotFor(data, now, 0);
  }

  private snapshotFor(data: ControlData, now: number, purgeSeq: number): Snapshot {
    const purges = purgeSeq >= data.purgeSeq ? [] : data.purges.filter((r) => r.seq > purgeSeq);
    return { version: data.version, generatedAt: now, origins: data.origins, health: data.published, purges, purgeSeq: data.purgeSeq };
  }

  /** Accepts a purge: a rule with the next sequence number, for every POP; and Cloudflare's purge when configured. */
  async purge(targets: PurgeTarget[], soft: boolean, id: string): Promise<PurgeRule> {
    const data = await this.load();
    const now = this.now();
    const horizon = this.options.purgeHorizonMs ?? 8 * 86400_000;
    data.purges = data.purges.filter((r) => r.at >= now - horizon);
    const rule: PurgeRule = { seq: ++data.purgeSeq, id, at: now, soft, targets };
    data.purges.push(rule);
    data.version++;
    const cf = this.options.cloudflare;
    if (cf) {
      data.cloudflare[id] = "pending";
      const work = purgeOnCloudflare(rule, cf).then(async (result) => {
        data.cloudflare[id] = result;
        if (!result.ok) this.log(JSON.stringify({ event: "cloudflare-purge-failed", id, calls: result.calls.map((c) => ({ status: c.status, errors: c.errors })) }));
        await this.save(data);
      });
      if (this.options.defer) this.options.defer(work);
      else await work;
    }
    for (const key of Object.keys(data.cloudflare)) if (!data.purges.some((r) => r.id === key)) delete data.cloudflare[key];
    await this.save(data);
    this.log(JSON.stringify({ event: "purge", id, seq: rule.seq, soft, targets: targets.length }));
    return rule;
  }

  async purgeStatus(id: string): Promise<PurgeStatus | undefined> {
    const data = await this.load();
    const rule = data.purges.find((r) => r.id === id);
    if (!rule) return undefined;
    return {
      id: rule.id,
      seq: rule.seq,
      at: rule.at,
      soft: rule.soft,
      targets: rule.targets,
      pops: Object.values(data.pops)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((p) => ({ name: p.name, applied: p.purgeSeqApplied >= rule.seq, idle: p.purgeSeqApplied < rule.seq && p.lastSyncAt < rule.at, lastSyncAt: p.lastSyncAt })),
      cloudflare: this.options.cloudflare ? (data.cloudflare[id] ?? "pending") : "not configured",
    };
  }

  /** Everything /metrics shows, in one call (one Durable Object round trip, no purge rules copied). */
  async metrics(): Promise<{ pops: PopSync[]; health: HealthReport; purgeSeq: number }> {
    const [pops, health] = [await this.pops(), await this.health()];
    return { pops, health, purgeSeq: (await this.load()).purgeSeq };
  }

  async pops(): Promise<PopSync[]> {
    return Object.values((await this.load()).pops).sort((a, b) => a.name.localeCompare(b.name));
  }

  async overrides(): Promise<Record<string, OriginOverride>> {
    return (await this.load()).origins;
  }

  async health(): Promise<HealthReport> {
    const data = await this.load();
    const now = this.now();
    await this.publish(data, now);
    const origins: HealthReport["origins"] = {};
    for (const origin of this.config().origins) {
      const view = data.published[origin.id];
      const passive = data.passive[origin.id];
      origins[origin.id] = {
        healthy: view?.healthy !== false,
        reason: view?.reason ?? null,
        active: data.active[origin.id] ?? null,
        passive: passive && passive.until > now ? passive : null,
        pops: Object.fromEntries(Object.values(data.pops).flatMap((p) => (p.origins[origin.id] ? [[p.name, p.origins[origin.id]]] : []))),
      };
    }
    return { origins, transitions: data.transitions.slice(-50) };
  }

  async patchOrigin(id: string, patch: OriginOverride): Promise<{ version: number; override: OriginOverride }> {
    const data = await this.load();
    const override = { ...data.origins[id], ...patch };
    data.origins[id] = override;
    data.version++;
    await this.save(data);
    return { version: data.version, override };
  }

  /** POPs report their passive ejections and recoveries; every POP then learns. */
  async report(pop: string, events: ReportEvent[]): Promise<{ version: number }> {
    const data = await this.load();
    const known = new Set(this.config().origins.map((o) => o.id));
    for (const event of events) {
      if (!known.has(event.originId)) continue;
      if (event.kind === "ejected" && event.until !== undefined) {
        data.passive[event.originId] = { pop, at: event.at, until: event.until, reason: event.reason ?? "failures" };
        this.log(JSON.stringify({ event: "origin-ejected", origin: event.originId, pop, until: new Date(event.until).toISOString(), reason: event.reason }));
      } else if (event.kind === "restored" && data.passive[event.originId]?.pop === pop) {
        delete data.passive[event.originId];
        this.log(JSON.stringify({ event: "origin-restored", origin: event.originId, pop }));
      }
    }
    if (!(await this.publish(data, this.now()))) await this.save(data);
    return { version: data.version };
  }

  /**
   * Probes every origin that is due, applies the results, and returns when
   * the next probe is due (ms since the epoch), for the alarm.
   */
  async runProbes(fetcher: typeof fetch = fetch): Promise<number> {
    const data = await this.load();
    const config = this.config();
    const now = this.now();
    const due = config.origins.filter((o) => (data.nextProbeAt[o.id] ?? 0) <= now);
    await Promise.all(
      due.map(async (origin) => {
        const monitor = monitorFor(config, origin);
        const result = await probeOrigin(origin.url, monitor, fetcher);
        const at = this.now();
        const { health, transition } = applyProbe(origin.id, data.active[origin.id] ?? initialHealth(at), result, monitor, at);
        data.active[origin.id] = health;
        data.nextProbeAt[origin.id] = now + monitor.intervalSeconds * 1000;
        if (transition) {
          data.transitions.push(transition);
          if (data.transitions.length > MAX_TRANSITIONS) data.transitions.splice(0, data.transitions.length - MAX_TRANSITIONS);
          this.log(JSON.stringify({ event: "origin-health", origin: transition.originId, from: transition.from, to: transition.to, reason: transition.reason }));
        }
      }),
    );
    if (!(await this.publish(data, this.now()))) await this.save(data);
    const next = Math.min(...config.origins.map((o) => data.nextProbeAt[o.id] ?? now + 1000));
    return Number.isFinite(next) ? next : now + 5000;
  }
}
