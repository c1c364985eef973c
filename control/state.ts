/**
 * The control plane's truth, apart from the Durable Object that hosts it so
 * Node tests can drive it: run-time origin overrides, origin health (active
 * probes and what POPs report), and what each POP last synced. Every change
 * a POP must see bumps the version POPs compare against.
 */
import type { OutpostConfig } from "../common/config";
import { purgeHorizonMs } from "../common/settings";
import { probeDueOrigins } from "./probe-round";
import { healthReport, publishedHealth, sameView } from "./health-view";
import { applyPassiveEvents } from "./passive-events";
import { HeldConfig } from "./held-config";
import { purgeOnCloudflare, type CloudflarePurgeOptions } from "./cloudflare-purge";
import type { ControlStorage } from "./storage";
import type { Invalidation, PopMetrics, Report, SyncReport } from "../common/wire";
import { loadControlData, type ControlData } from "./control-data";
import { HeldSyncs } from "./held-syncs";
import { DEFAULT_PURGE_PAGE, PurgePages } from "./purge-pages";
import { retrySpreadMs } from "./retry-spread";
import { keptFigures } from "./pop-figures";
import { LiveFigures } from "./live";
import type { MetricsInput } from "./metrics";
import { buildDashboardView, type DashboardView } from "./dashboard-view";
import { coloViews, purgeReach, memberKey, type ColoView } from "./colos";
import { coloTakes, feedLive, retireSilentIsolates } from "./colo-upkeep";
import { recordPosition, type PositionContext } from "./isolate-positions";
import type { RelayAnswer, RelayBatch, RelaySyncRequest } from "./relay-protocol";

export type { PopOriginView, ReportEvent, SyncMode, SyncReport } from "../common/wire";
import type { OriginOverride, PurgeRule, PurgeTarget, Snapshot } from "../common/snapshot";
import type { HealthReport, PopSync, PurgeStatus } from "./views";

export type { HealthReport, PassiveReport, PopSync, PurgeStatus } from "./views";

export interface ControlOptions {
  cloudflare?: CloudflarePurgeOptions;
  /** Runs work after the answer (the Durable Object's waitUntil). */
  defer?: (work: Promise<unknown>) => void;
  /** How long purge rules are kept: no stored entry outlives it. Default: purgeHorizonMs(config). */
  purgeHorizonMs?: number;
  /** Purge rules per sync answer; a POP further behind asks again at once. */
  purgePageSize?: number;
  /** Rules behind past which an isolate fetches the folded catch-up instead (PURGE_CATCH_UP_AFTER). */
  catchUpAfter?: number;
}

export type { ControlStorage } from "./storage";

/** How often silent isolates are looked for (and retired). */
const RETIRE_SWEEP_MS = 60_000;

export class ControlState {
  private data: ControlData | undefined;
  /** Figures for people watching (the dashboard, purge lag): memory only. */
  readonly live = new LiveFigures();
  private readonly held = new HeldSyncs();
  /** The configuration an operator put here, over the variable's. */
  private readonly heldConfig: HeldConfig;
  private readonly pages: PurgePages;
  /** Each regional relay's syncs held, as its last batch said. */
  readonly relays = new Map<string, { held: number; at: number }>();

  constructor(
    private readonly storage: ControlStorage,
    private readonly bootstrapConfig: () => OutpostConfig,
    private readonly now: () => number = Date.now,
    private readonly log: (line: string) => void = (line) => console.log(line),
    private readonly options: ControlOptions = {},
  ) {
    this.heldConfig = new HeldConfig(storage);
    const pageSize = options.purgePageSize ?? DEFAULT_PURGE_PAGE;
    this.pages = new PurgePages(storage, () => this.horizonMs(), { pageSize, catchUpAfter: options.catchUpAfter ?? pageSize });
  }

  /** How long purge rules are kept: no stored entry outlives it. */
  private horizonMs(): number {
    return this.options.purgeHorizonMs ?? purgeHorizonMs(this.config());
  }

  /** What everything here runs: the held configuration, else the variable's. */
  private config(): OutpostConfig {
    return this.heldConfig.current ?? this.bootstrapConfig();
  }

  private loading: Promise<ControlData> | undefined;

  private load(): Promise<ControlData> {
    if (this.data) return Promise.resolve(this.data);
    this.loading ??= Promise.all([loadControlData(this.storage), this.heldConfig.load()]).then(([data]) => (this.data = data));
    return this.loading;
  }

  /** Every change a POP must see bumps the version, and answers every held sync. */
  private async bumpVersion(data: ControlData): Promise<void> {
    data.version++;
    await this.storage.putRow("value", "version", data.version);
    this.held.releaseAll();
  }

  /** Is there anything past what the POP reported? */
  private hasNews(data: ControlData, report: { epoch?: string; have: number; purgeSeq: number }): boolean {
    if (report.epoch !== undefined && report.epoch !== data.epoch) return true;
    return data.version > report.have || data.purgeSeq > report.purgeSeq;
  }

  /** Syncs held now. */
  get heldSyncs(): number {
    return this.held.size;
  }

  /** Recomputes the published view; a change (including an ejection running out) bumps the version. */
  private async publish(data: ControlData, now: number): Promise<boolean> {
    const view = publishedHealth(this.config(), data, now);
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
    await this.retireGone(data, this.now());
    const key = memberKey(report.pop, report.isolate);
    // Figures count as of the sync's arrival: a held answer must not put older counters over newer ones.
    const known = data.pops.get(key);
    if (known) this.setFigures(data, key, known, report);
    // A waiting sync: answered as soon as there is news past what the POP has, or at its bound.
    if (waitMs > 0 && !this.hasNews(data, report)) await this.held.hold(waitMs);
    const now = this.now();
    // A POP from another epoch holds sequence numbers that mean nothing here: it starts from zero.
    const purgeSeq = this.positionIn(data, report);
    const snapshot = await this.snapshotFor(data, now, purgeSeq);
    await recordPosition(this.positionContext(), data, report, purgeSeq, snapshot.purges.at(-1)?.seq ?? 0, now);
    return snapshot;
  }

  /** The isolate's purge position in this epoch's numbering: another epoch's means nothing here (zero). */
  private positionIn(data: ControlData, report: { epoch?: string; purgeSeq: number }): number {
    return report.epoch !== undefined && report.epoch !== data.epoch ? 0 : report.purgeSeq;
  }

  private positionContext(): PositionContext {
    return { storage: this.storage, live: this.live, config: this.config() };
  }

  /**
   * A regional relay's sync (control/relay.ts), held like an isolate's: the snapshot and the rules
   * after its position, or, for a relay that is new (or from another epoch, or too far behind),
   * the newest window of rules, as many as an isolate may page through.
   */
  async relaySync(request: RelaySyncRequest, waitMs = 0): Promise<RelayAnswer> {
    const data = await this.load();
    await this.publish(data, this.now());
    await this.retireGone(data, this.now());
    const known = request.purgeSeq !== undefined && request.epoch === data.epoch;
    if (waitMs > 0 && known && !this.hasNews(data, { ...request, purgeSeq: request.purgeSeq ?? 0 })) await this.held.hold(waitMs);
    const window = this.pages.window;
    const after = known && data.purgeSeq - (request.purgeSeq ?? 0) <= window ? (request.purgeSeq ?? 0) : Math.max(0, data.purgeSeq - window);
    const snapshot = { ...(await this.snapshotFor(data, this.now(), data.purgeSeq)), purges: await this.storage.purgesAfter(after, window) };
    return { snapshot, after };
  }

  /** What a relay's isolates told it: each isolate's position and figures, and their reports. */
  async relayed(batch: RelayBatch): Promise<void> {
    const data = await this.load();
    this.relays.set(batch.relay, { held: batch.held, at: this.now() });
    for (const { report, delivered, epoch, at, heldUntil } of batch.syncs) {
      const key = memberKey(report.pop, report.isolate);
      const known = data.pops.get(key);
      if (known) this.setFigures(data, key, known, report);
      const purgeSeq = this.positionIn(data, report);
      await recordPosition(this.positionContext(), data, report, purgeSeq, epoch === data.epoch ? delivered : purgeSeq, Math.min(at, this.now()), heldUntil);
    }
    // A batch carries up to a region's reports: the published health view is renewed once, after them all.
    for (const report of batch.reports) await this.takeReport(data, report);
    if (batch.reports.length > 0) await this.publish(data, this.now());
  }

  /** An isolate's new figures, and its POP's sum for the people watching. */
  private setFigures(data: ControlData, key: string, previous: PopSync, metrics: PopMetrics, extra: Partial<PopSync> = {}): void {
    data.pops.set(key, { ...previous, ...keptFigures(this.config(), metrics, previous), ...extra });
    if (metrics.counters) feedLive(data, this.live, previous.name, this.now());
  }

  /** Isolates silent for long (or past the bound) retire, at most once a minute. */
  private lastSweepAt = 0;
  private async retireGone(data: ControlData, now: number): Promise<void> {
    if (now - this.lastSweepAt < RETIRE_SWEEP_MS) return;
    this.lastSweepAt = now;
    await retireSilentIsolates(data, this.storage, now);
  }

  /** Figures an isolate sends between held syncs (so dashboards stay live); its position is left as it was. */
  async recordMetrics(popName: string, isolate: string | undefined, metrics: PopMetrics): Promise<void> {
    const data = await this.load();
    const key = memberKey(popName, isolate);
    const previous = data.pops.get(key);
    if (!previous) return; // an isolate is known from its first sync
    this.setFigures(data, key, previous, metrics, { reports: (previous.reports ?? 0) + 1 });
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

  private async snapshotFor(data: ControlData, now: number, purgeSeq: number): Promise<Snapshot> {
    return {
      version: data.version,
      generatedAt: now,
      origins: Object.fromEntries(data.origins),
      health: data.published,
      ...(await this.pages.after(data, purgeSeq)),
      purgeSeq: data.purgeSeq,
      ...(data.lastPurgeAt > 0 ? { purgeAt: data.lastPurgeAt } : {}),
      purgeEpoch: data.epoch,
      configVersion: this.heldConfig.version,
      retrySpreadMs: retrySpreadMs(data.pops.size),
    };
  }

  /**
   * Accepts a purge: a rule with the next sequence number, stored (its own
   * row) before any POP can see it; and Cloudflare's purge when configured.
   */
  async purge(targets: PurgeTarget[], soft: boolean, id: string, { cloudflare = true } = {}): Promise<PurgeRule> {
    const data = await this.load();
    const now = this.now();
    for (const dropped of await this.storage.prunePurges(now - this.horizonMs())) {
      if (data.cloudflare.delete(dropped)) await this.storage.deleteRow("cloudflare", dropped);
    }
    const rule: PurgeRule = { seq: data.purgeSeq + 1, id, at: now, soft, targets };
    await this.storage.appendPurge(rule);
    data.purgeSeq = rule.seq;
    data.lastPurgeAt = rule.at;
    await this.storage.putRow("value", "purgeSeq", data.purgeSeq);
    this.live.onPurgeAccepted(rule);
    await this.bumpVersion(data);
    const cf = this.options.cloudflare;
    if (cf && cloudflare) {
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

  /**
   * An isolate's invalidation (RFC 9111 §4.4) for every other: a purge rule
   * (not Cloudflare's: it is Outpost's copies that changed), answered once the
   * sender's colo has it, or after INVALIDATION_WAIT_MS (real time).
   */
  async invalidate({ pop, isolate, keys }: Invalidation): Promise<{ seq: number; reachedColo: boolean }> {
    const data = await this.load();
    const targets = keys.map((value): PurgeTarget => ({ kind: "url", value }));
    const rule = await this.purge(targets, false, `inv-${crypto.randomUUID()}`, { cloudflare: false });
    return { seq: rule.seq, reachedColo: await coloTakes(data, pop, memberKey(pop, isolate), rule.seq, this.now) };
  }

  /** Every rule in force, folded into one bounded answer (common/catch-up.ts), for an isolate far behind. */
  async catchUp(): Promise<Uint8Array<ArrayBuffer>> {
    return this.pages.catchUp(await this.load(), this.now());
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
      pops: purgeReach(data.pops, rule.seq, rule.at),
      cloudflare: this.options.cloudflare ? (data.cloudflare.get(id) ?? "pending") : "not configured",
    };
  }

  /** Held syncs by relay, of the relays heard from within two minutes. */
  private relaysHeard(): Record<string, number> {
    const since = this.now() - 120_000;
    return Object.fromEntries([...this.relays].filter(([, r]) => r.at >= since).map(([name, r]) => [name, r.held]));
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
      catchUps: { ...this.pages.catchUps },
      relays: this.relaysHeard(),
    };
  }

  async dashboard(): Promise<DashboardView> {
    const [pops, health] = [await this.pops(), await this.health()];
    const data = await this.load();
    const purgeLog = { purgeSeq: data.purgeSeq, catchUps: { ...this.pages.catchUps }, relays: this.relaysHeard() };
    return buildDashboardView(this.config(), pops, data.pops.entries(), health, this.live, purgeLog, this.now());
  }

  /** Each POP, its isolates summed. */
  async pops(): Promise<ColoView[]> {
    const data = await this.load();
    return coloViews(data.pops, data.retired);
  }

  async overrides(): Promise<Record<string, OriginOverride>> {
    return Object.fromEntries((await this.load()).origins);
  }

  async health(): Promise<HealthReport> {
    const data = await this.load();
    const now = this.now();
    await this.publish(data, now);
    return healthReport(this.config(), data, coloViews(data.pops, data.retired), now);
  }

  /** The held configuration, as isolates fetch it (text absent: run the variable). */
  async configuration(): Promise<{ version: number; text: string | undefined }> {
    await this.load();
    return this.heldConfig.answer;
  }

  /** Holds a new configuration (validated by the caller); every isolate's next sync fetches it. */
  async putConfiguration(config: Record<string, unknown>): Promise<{ version: number }> {
    const data = await this.load();
    const version = await this.heldConfig.put(config);
    this.log(JSON.stringify({ event: "config", version }));
    await this.bumpVersion(data);
    return { version };
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
  async report(report: Report): Promise<{ version: number }> {
    const data = await this.load();
    await this.takeReport(data, report);
    await this.publish(data, this.now());
    return { version: data.version };
  }

  /** A report's figures and passive-health events, taken in (the published view is the caller's to renew). */
  private async takeReport(data: ControlData, { pop, isolate, events, metrics }: Report): Promise<void> {
    if (metrics) await this.recordMetrics(pop, isolate, metrics);
    await applyPassiveEvents({ storage: this.storage, live: this.live, config: this.config(), log: this.log }, data, { pop, isolate, events }, this.now());
  }

  /**
   * Probes every origin that is due, applies the results, and returns when
   * the next probe is due (ms since the epoch), for the alarm.
   */
  async runProbes(fetcher: typeof fetch = fetch): Promise<number> {
    const data = await this.load();
    const config = this.config();
    const now = this.now();
    await probeDueOrigins({ data, storage: this.storage, config, now: this.now, live: this.live, log: this.log }, fetcher);
    await this.publish(data, this.now());
    const next = Math.min(...config.origins.map((o) => data.nextProbeAt[o.id] ?? now + 1000));
    return Number.isFinite(next) ? next : now + 5000;
  }
}
