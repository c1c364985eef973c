/**
 * The control plane's truth, apart from the Durable Object that hosts it so
 * Node tests can drive it: run-time origin overrides, origin health (active
 * probes and what POPs report), and what each POP last synced. Every change
 * a POP must see bumps the version POPs compare against.
 */
import { monitorFor, type OutpostConfig } from "../common/config";
import { purgeHorizonMs } from "../common/settings";
import { applyProbe, initialHealth, probeOrigin } from "./health-monitor";
import { purgeOnCloudflare, type CloudflarePurgeOptions } from "./cloudflare-purge";
import type { ControlStorage } from "./storage";
import type { PopMetrics, ReportEvent, SyncReport } from "../common/wire";
import { loadControlData, type ControlData } from "./control-data";
import { HeldSyncs } from "./held-syncs";
import { validSeries } from "../common/metrics/series";
import { POP_COUNTERS } from "../common/metrics/counters";
import { LiveFigures } from "./live";
import type { MetricsInput } from "./metrics";
import { buildDashboardView, type DashboardView } from "./dashboard-view";

export type { PopOriginView, ReportEvent, SyncMode, SyncReport } from "../common/wire";
import type { OriginHealthView, OriginOverride, PurgeRule, PurgeTarget, Snapshot } from "../common/snapshot";
import type { HealthReport, PassiveReport, PopSync, PurgeStatus } from "./views";

export type { HealthReport, PassiveReport, PopSync, PurgeStatus } from "./views";

export interface ControlOptions {
  cloudflare?: CloudflarePurgeOptions;
  /** Runs work after the answer (the Durable Object's waitUntil). */
  defer?: (work: Promise<unknown>) => void;
  /** How long purge rules are kept: no stored entry outlives it. Default: purgeHorizonMs(config). */
  purgeHorizonMs?: number;
  /** Purge rules per sync answer; a POP further behind asks again at once. */
  purgePageSize?: number;
}

export type { ControlStorage } from "./storage";

const MAX_TRANSITIONS = 200;
/** A POP's row is written on a purge or version change, else at most this often. */
const POP_ROW_INTERVAL_MS = 10_000;
const DEFAULT_PURGE_PAGE = 2000;

function sameView(a: Record<string, OriginHealthView>, b: Record<string, OriginHealthView>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k]?.healthy !== b[k]?.healthy) return false;
  return true;
}

export class ControlState {
  private data: ControlData | undefined;
  /** Figures for people watching (the dashboard, purge lag): memory only. */
  readonly live = new LiveFigures();
  private readonly held = new HeldSyncs();

  constructor(
    private readonly storage: ControlStorage,
    private readonly config: () => OutpostConfig,
    private readonly now: () => number = Date.now,
    private readonly log: (line: string) => void = (line) => console.log(line),
    private readonly options: ControlOptions = {},
  ) {}

  private loading: Promise<ControlData> | undefined;

  private load(): Promise<ControlData> {
    if (this.data) return Promise.resolve(this.data);
    this.loading ??= loadControlData(this.storage).then((data) => (this.data = data));
    return this.loading;
  }

  /** Every change a POP must see bumps the version, and answers every held sync. */
  private async bumpVersion(data: ControlData): Promise<void> {
    data.version++;
    await this.storage.putRow("value", "version", data.version);
    this.held.releaseAll();
  }

  /** Is there anything past what the POP reported? */
  private hasNews(data: ControlData, report: SyncReport): boolean {
    if (report.epoch !== undefined && report.epoch !== data.epoch) return true;
    return data.version > report.have || data.purgeSeq > report.purgeSeq;
  }

  /** Syncs held now. */
  get heldSyncs(): number {
    return this.held.size;
  }

  /** Health as POPs should apply it: down if probes say so, or a POP's ejection still runs. */
  private view(data: ControlData, now: number): Record<string, OriginHealthView> {
    const out: Record<string, OriginHealthView> = {};
    for (const origin of this.config().origins) {
      const active = data.active.get(origin.id);
      const passive = data.passive.get(origin.id);
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
    await this.storage.putRow("value", "published", view);
    await this.bumpVersion(data);
    return true;
  }

  /**
   * A POP's sync: records where it is (version, purges applied, counters) and
   * answers with the snapshot, purge rules after the ones it has.
   */
  async sync(report: SyncReport, waitMs = 0): Promise<Snapshot> {
    const data = await this.load();
    await this.publish(data, this.now());
    // Figures count as of the sync's arrival: a held answer must not put older counters over newer ones.
    const known = data.pops.get(report.pop);
    if (known) data.pops.set(report.pop, { ...known, ...this.figures(report.pop, report, known, this.now()) });
    // A waiting sync: answered as soon as there is news past what the POP has, or at its bound.
    if (waitMs > 0 && !this.hasNews(data, report)) await this.held.hold(waitMs);
    const now = this.now();
    // A POP from another epoch holds sequence numbers that mean nothing here: it starts from zero.
    const purgeSeq = report.epoch !== undefined && report.epoch !== data.epoch ? 0 : report.purgeSeq;
    const previous = data.pops.get(report.pop);
    let lastPurgeLagMs = previous?.lastPurgeLagMs ?? null;
    if (purgeSeq > (previous?.purgeSeqApplied ?? 0) && purgeSeq <= data.purgeSeq) {
      const newest = (await this.storage.purgesAfter(purgeSeq - 1, 1))[0];
      if (newest?.seq === purgeSeq) lastPurgeLagMs = now - newest.at;
    }
    const pop: PopSync = {
      ...(previous
        ? { counters: previous.counters, series: previous.series, origins: previous.origins, location: previous.location }
        : this.figures(report.pop, report, undefined, now)),
      name: report.pop,
      lastSyncAt: now,
      mode: report.mode ?? previous?.mode,
      syncs: (previous?.syncs ?? 0) + 1,
      reports: previous?.reports,
      versionApplied: report.have,
      purgeSeqApplied: purgeSeq,
      lastPurgeLagMs,
    };
    const snapshot = await this.snapshotFor(data, now, purgeSeq);
    pop.purgeSeqDelivered = Math.max(purgeSeq, snapshot.purges.at(-1)?.seq ?? 0);
    this.live.onDelivered(report.pop, pop.purgeSeqDelivered, now);
    data.pops.set(report.pop, pop);
    // Syncs come several times a second: the row is written when the POP's position changes, else now and then.
    // (What was delivered lives in memory: a purge answering every held sync must not cost a write per POP.)
    const changed = !previous || previous.purgeSeqApplied !== pop.purgeSeqApplied || previous.versionApplied !== pop.versionApplied;
    if (changed || now - (data.popWrittenAt.get(report.pop) ?? 0) >= POP_ROW_INTERVAL_MS) {
      data.popWrittenAt.set(report.pop, now);
      await this.storage.putRow("pop", report.pop, pop);
    }
    return snapshot;
  }

  /**
   * A POP's figures as the control plane keeps them: only declared counters,
   * and series whose labels are in their domains (a report cannot grow the
   * exposition); what a report leaves out stays as it was.
   */
  private figures(popName: string, metrics: PopMetrics, previous: PopSync | undefined, now: number): Pick<PopSync, "counters" | "series" | "origins" | "location"> {
    const isOrigin = (id: string) => this.config().origins.some((o) => o.id === id) || /^shield:[a-z0-9:_-]{1,80}$/.test(id);
    const counters = metrics.counters ? Object.fromEntries(Object.entries(metrics.counters).filter(([name]) => Object.hasOwn(POP_COUNTERS, name))) : (previous?.counters ?? {});
    const series = metrics.series ? Object.fromEntries(Object.entries(metrics.series).filter(([key, values]) => validSeries(key, values, isOrigin))) : previous?.series;
    const origins = metrics.origins ? Object.fromEntries(Object.entries(metrics.origins).filter(([id]) => isOrigin(id))) : (previous?.origins ?? {});
    if (metrics.counters) this.live.onFigures(popName, now, counters, series);
    return { counters, series, origins, location: metrics.location ?? previous?.location };
  }

  /** Figures a POP sends between held syncs (so dashboards stay live); its position is left as it was. */
  async recordMetrics(popName: string, metrics: PopMetrics): Promise<void> {
    const data = await this.load();
    const previous = data.pops.get(popName);
    if (!previous) return; // a POP is known from its first sync
    data.pops.set(popName, { ...previous, ...this.figures(popName, metrics, previous, this.now()), reports: (previous.reports ?? 0) + 1 });
  }

  async snapshot(popName: string | undefined, have: number): Promise<Snapshot> {
    const data = await this.load();
    if (popName) {
      // This form carries no purge sequence: keep the one the POP last reported rather than claim 0.
      return this.sync({ pop: popName, have, purgeSeq: data.pops.get(popName)?.purgeSeqApplied ?? 0, epoch: data.epoch });
    }
    const now = this.now();
    await this.publish(data, now);
    return this.snapshotFor(data, now, 0);
  }

  /** The last page of rules read, by version and position: a purge answers every held sync from one read. */
  private pageMemo: { version: number; after: number; purges: PurgeRule[] } | undefined;

  private async snapshotFor(data: ControlData, now: number, purgeSeq: number): Promise<Snapshot> {
    const page = this.options.purgePageSize ?? DEFAULT_PURGE_PAGE;
    let purges: PurgeRule[] = [];
    if (purgeSeq < data.purgeSeq) {
      const memo = this.pageMemo;
      if (memo && memo.version === data.version && memo.after === purgeSeq) purges = memo.purges;
      else {
        purges = await this.storage.purgesAfter(purgeSeq, page);
        this.pageMemo = { version: data.version, after: purgeSeq, purges };
      }
    }
    return {
      version: data.version,
      generatedAt: now,
      origins: Object.fromEntries(data.origins),
      health: data.published,
      purges,
      purgeSeq: data.purgeSeq,
      purgeEpoch: data.epoch,
    };
  }

  /**
   * Accepts a purge: a rule with the next sequence number, stored (its own
   * row) before any POP can see it; and Cloudflare's purge when configured.
   */
  async purge(targets: PurgeTarget[], soft: boolean, id: string): Promise<PurgeRule> {
    const data = await this.load();
    const now = this.now();
    const horizon = this.options.purgeHorizonMs ?? purgeHorizonMs(this.config());
    for (const dropped of await this.storage.prunePurges(now - horizon)) {
      if (data.cloudflare.delete(dropped)) await this.storage.deleteRow("cloudflare", dropped);
    }
    const rule: PurgeRule = { seq: data.purgeSeq + 1, id, at: now, soft, targets };
    await this.storage.appendPurge(rule);
    data.purgeSeq = rule.seq;
    await this.storage.putRow("value", "purgeSeq", data.purgeSeq);
    this.live.onPurgeAccepted(rule, [...data.pops.keys()]);
    await this.bumpVersion(data);
    const cf = this.options.cloudflare;
    if (cf) {
      data.cloudflare.set(id, "pending");
      await this.storage.putRow("cloudflare", id, "pending");
      const work = purgeOnCloudflare(rule, cf).then(async (result) => {
        data.cloudflare.set(id, result);
        await this.storage.putRow("cloudflare", id, result);
        if (!result.ok) this.log(JSON.stringify({ event: "cloudflare-purge-failed", id, calls: result.calls.map((c) => ({ status: c.status, errors: c.errors })) }));
      });
      if (this.options.defer) this.options.defer(work);
      else await work;
    }
    this.log(JSON.stringify({ event: "purge", id, seq: rule.seq, soft, targets: targets.length }));
    return rule;
  }

  async purgeStatus(id: string): Promise<PurgeStatus | undefined> {
    const data = await this.load();
    const rule = await this.storage.purgeById(id);
    if (!rule) return undefined;
    return {
      id: rule.id,
      seq: rule.seq,
      at: rule.at,
      soft: rule.soft,
      targets: rule.targets,
      pops: [...data.pops.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((p) => {
          const applied = Math.max(p.purgeSeqApplied, p.purgeSeqDelivered ?? 0) >= rule.seq;
          return { name: p.name, applied, idle: !applied && p.lastSyncAt < rule.at, lastSyncAt: p.lastSyncAt };
        }),
      cloudflare: this.options.cloudflare ? (data.cloudflare.get(id) ?? "pending") : "not configured",
    };
  }

  /** Everything /metrics shows, in one call (one Durable Object round trip, no purge rules copied). */
  async metrics(): Promise<MetricsInput> {
    const [pops, health] = [await this.pops(), await this.health()];
    return {
      pops,
      health,
      purgeSeq: (await this.load()).purgeSeq,
      purgeRulesRetained: await this.storage.purgeCount(),
      heldSyncs: this.held.size,
      purgePropagation: Object.fromEntries(this.live.purgeLag),
    };
  }

  async dashboard(): Promise<DashboardView> {
    const [pops, health] = [await this.pops(), await this.health()];
    return buildDashboardView(this.config(), pops, health, this.live, (await this.load()).purgeSeq, this.now());
  }

  async pops(): Promise<PopSync[]> {
    return [...(await this.load()).pops.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async overrides(): Promise<Record<string, OriginOverride>> {
    return Object.fromEntries((await this.load()).origins);
  }

  async health(): Promise<HealthReport> {
    const data = await this.load();
    const now = this.now();
    await this.publish(data, now);
    const origins: HealthReport["origins"] = {};
    for (const origin of this.config().origins) {
      const view = data.published[origin.id];
      const passive = data.passive.get(origin.id);
      origins[origin.id] = {
        healthy: view?.healthy !== false,
        reason: view?.reason ?? null,
        active: data.active.get(origin.id) ?? null,
        passive: passive && passive.until > now ? passive : null,
        pops: Object.fromEntries([...data.pops.values()].flatMap((p) => (p.origins[origin.id] ? [[p.name, p.origins[origin.id]]] : []))),
      };
    }
    return { origins, transitions: [...data.transitions.values()].sort((a, b) => a.at - b.at).slice(-50) };
  }

  async patchOrigin(id: string, patch: OriginOverride): Promise<{ version: number; override: OriginOverride }> {
    const data = await this.load();
    const override = { ...data.origins.get(id), ...patch };
    data.origins.set(id, override);
    await this.storage.putRow("override", id, override);
    await this.bumpVersion(data);
    return { version: data.version, override };
  }

  /** POPs report their passive ejections and recoveries; every POP then learns. */
  async report(pop: string, events: ReportEvent[], metrics?: PopMetrics): Promise<{ version: number }> {
    const data = await this.load();
    if (metrics) await this.recordMetrics(pop, metrics);
    const known = new Set(this.config().origins.map((o) => o.id));
    for (const event of events) {
      this.live.onEvent({ at: event.at, kind: event.kind, origin: event.originId, pop, detail: event.reason });
      if (!known.has(event.originId)) continue;
      if (event.kind === "ejected" && event.until !== undefined) {
        // A POP's word holds no longer than the longest ejection it could have made, from now:
        // a leaked POP token must not mark an origin down everywhere for good.
        const now = this.now();
        const until = Math.min(event.until, now + this.config().outlierDetection.maxEjectionMs);
        if (until <= now) continue;
        const report: PassiveReport = { pop, at: Math.min(event.at, now), until, reason: event.reason ?? "failures" };
        data.passive.set(event.originId, report);
        await this.storage.putRow("passive", event.originId, report);
        this.log(JSON.stringify({ event: "origin-ejected", origin: event.originId, pop, until: new Date(until).toISOString(), reason: event.reason }));
      } else if (event.kind === "restored" && data.passive.get(event.originId)?.pop === pop) {
        data.passive.delete(event.originId);
        await this.storage.deleteRow("passive", event.originId);
        this.log(JSON.stringify({ event: "origin-restored", origin: event.originId, pop }));
      }
    }
    await this.publish(data, this.now());
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
        const { health, transition } = applyProbe(origin.id, data.active.get(origin.id) ?? initialHealth(at), result, monitor, at);
        data.active.set(origin.id, health);
        // One row per origin: a probe rewrites that origin's health and nothing else.
        await this.storage.putRow("active", origin.id, health);
        data.nextProbeAt[origin.id] = now + monitor.intervalSeconds * 1000;
        if (transition) {
          const key = `${String(transition.at).padStart(15, "0")}-${transition.originId}`;
          data.transitions.set(key, transition);
          await this.storage.putRow("transition", key, transition);
          for (const old of [...data.transitions.keys()].sort().slice(0, Math.max(0, data.transitions.size - MAX_TRANSITIONS))) {
            data.transitions.delete(old);
            await this.storage.deleteRow("transition", old);
          }
          this.live.onEvent({ at: transition.at, kind: transition.to === "down" ? "origin-down" : "origin-up", origin: transition.originId, detail: transition.reason });
          this.log(JSON.stringify({ event: "origin-health", origin: transition.originId, from: transition.from, to: transition.to, reason: transition.reason }));
        }
      }),
    );
    await this.publish(data, this.now());
    const next = Math.min(...config.origins.map((o) => data.nextProbeAt[o.id] ?? now + 1000));
    return Number.isFinite(next) ? next : now + 5000;
  }
}
