/**
 * The state one isolate of a POP keeps between requests: the validated
 * configuration, the two cache tiers, requests in flight (for collapsing),
 * the control plane's snapshot, and counters. Built once per configuration.
 */
import { TooLargeObjects } from "./cache/too-large";
import { parseConfig, type OriginConfig, type OutpostConfig, type SiteConfig } from "../common/config";
import { CacheApiTier } from "./cache/cache-api-tier";
import { StoreBreaker } from "./cache/store-breaker";
import type { CacheStore } from "./cache/store";
import type { ShieldAddress } from "../common/shield/placement";
import { MemoryTier } from "./cache/memory-tier";
import { Tiers } from "./cache/tiers";
import { Collapsing } from "./cache/collapsing";
import { availableCodings } from "./compress/codecs";
import { negotiateEncoding, type Coding, type Negotiated } from "./http/accept-encoding";
import { PurgeRules } from "./cache/purge-rules";
import type { PurgeRule } from "../common/snapshot";
import type { EntryMeta } from "./cache/entry";
import type { Env } from "../common/env";
import { candidatesFor, type Candidates } from "./routing/balancer";
import { coloPoint, popPlace } from "../common/geo/colo";
import { OutlierDetector, type OutlierEvent } from "./routing/outlier";
import { OriginSlots } from "./routing/origin-slots";
import { RetryBudget } from "./routing/retry-budget";
import { SnapshotClient } from "./snapshot-client";
import { IsolateIdentity } from "./isolate-identity";
import { configText, heldConfigVersion } from "../common/config-source";
import { zeroCounters, type PopCounters } from "../common/metrics/counters";
import type { PopLocation, PopMetrics } from "../common/wire";
import { PopSeries, statusClass, type CacheResult, type StaleReason } from "../common/metrics/series";
import { DEFAULT_CONTROL_HOST, parseSettings, purgeHorizonMs } from "../common/settings";
import { waitAtMost } from "./wait";
import { TokenStore } from "../common/auth";
import { RateLimiter } from "../common/rate-limit";

/** What a collapsed request receives from the request that went forward for it. */
export type FillOutcome =
  | { kind: "shared"; variantKey: string; meta: EntryMeta; body: Uint8Array }
  /** Too large to share from memory, stored where it can be read as it is written: followers read it there (Tiers.follow). */
  | { kind: "following"; variantKey: string; meta: EntryMeta }
  /** Not storable, or too big to share from memory where the store cannot be followed (a POP's Cache API): followers go forward themselves. */
  | { kind: "not-shared" };

export interface PopOptions {
  /** The tier behind memory; the Cache API when not given. Called once, on first use. */
  store?: () => CacheStore;
  /** Set when this Pop is a shield shard (the upper tier), not a POP. */
  shield?: ShieldAddress;
}

export class Pop {
  readonly config: OutpostConfig;
  readonly memory: MemoryTier;
  /** Memory in front of the second tier, behind one object. */
  readonly tiers: Tiers;
  private secondTier: CacheStore | undefined;
  /** Whether the second tier is worth asking: lookups it leaves unanswered open it (see store-breaker.ts). */
  readonly storeBreaker = new StoreBreaker();
  private readonly sitesByHost = new Map<string, SiteConfig>();
  private readonly originsById = new Map<string, OriginConfig>();
  /** Fills in flight, by primary key: followers take what the leader stored. */
  readonly fills = new Collapsing<FillOutcome>();
  /** Objects too large to store here, whose ranges go to the origin alone for a while (pipeline/range-pass.ts). */
  readonly tooLarge = new TooLargeObjects();
  /** Revalidations in flight by entry key, ended when the memory tier holds what they brought. */
  readonly revalidations = new Collapsing<void>();
  /** Background revalidations (stale-while-revalidate) by entry key: one at a time each. */
  readonly backgroundRevalidations = new Collapsing<void>();
  readonly snapshots: SnapshotClient;
  readonly counters: PopCounters = zeroCounters();
  /** Histograms and labelled counters (see POP_SERIES). */
  readonly series = new PopSeries();
  /** Where this POP is, from the first request's cf (reported so the dashboard can place it; the wire's type). */
  location: PopLocation | undefined;
  /** The codings this runtime can produce, in the configured order. */
  readonly codings: Coding[];
  readonly outliers: OutlierDetector;
  readonly purges: PurgeRules;
  /** Forward trips and failures per origin, for the control plane's metrics. */
  readonly originStats: Record<string, { requests: number; errors: number }> = {};
  readonly retryBudget: RetryBudget;
  /** Requests waiting on each origin's answer (circuit breaking, routing/origin-slots.ts). */
  readonly originSlots = new OriginSlots();
  /** The control plane's purge epoch our sequence belongs to. */
  purgeEpoch: string | undefined;
  /** The last sync answer was one a relay out of touch could not vouch for: the next sync says so. */
  private unconfirmed = false;
  /** Ejections and recoveries not yet told to the control plane. */
  private pendingReports: OutlierEvent[] = [];
  readonly startedAt = Date.now();
  /** This isolate's id and the figures it reports under it (a colo runs many isolates under one POP name). */
  readonly identity = new IsolateIdentity(() => this.ownFigures());
  /** The newest purge rule applied here and when (this isolate's clock): propagation is measured from it. */
  lastPurgeApplied: { seq: number; at: number } | undefined;
  /** Control API tokens, for the status page. */
  readonly tokens: TokenStore;
  /** Failed authentications at the status page, by client address. */
  readonly failedAuthentications: RateLimiter;

  constructor(
    readonly env: Env,
    readonly name: string,
    private readonly options: PopOptions = {},
  ) {
    const config = parseConfig(configText(env), heldConfigVersion() > 0 ? "the control plane's configuration" : "OUTPOST_CONFIG");
    this.config = options.shield ? asShield(config) : config;
    this.memory = new MemoryTier(this.config.cache.memoryBytes);
    this.tiers = new Tiers(
      this.memory,
      () => this.store,
      this.config.cache,
      () => this.storeBreaker.writable,
    );
    this.tokens = new TokenStore(env.CONTROL_TOKENS, undefined);
    for (const site of this.config.sites) for (const host of site.hosts) this.sitesByHost.set(host, site);
    for (const origin of this.config.origins) this.originsById.set(origin.id, origin);
    this.codings = availableCodings(this.config.compression);
    this.outliers = new OutlierDetector(this.config.outlierDetection, (event) => {
      console.log(JSON.stringify({ event: `origin-${event.kind}`, pop: name, ...event }));
      this.pendingReports.push(event);
    });
    this.retryBudget = new RetryBudget(this.config.loadBalancing.retryBudgetRatio, this.config.loadBalancing.retryBudgetMinPerSecond);
    const settings = parseSettings(env);
    this.failedAuthentications = new RateLimiter(settings.CONTROL_RATE_LIMIT_PER_MINUTE);
    this.purges = new PurgeRules(purgeHorizonMs(this.config));
    // Until its first sync answers, an isolate knows no purge, and the colo's Cache API (and a shard's
    // storage) outlives isolates: what was stored before it started counts as purged (a miss), so a
    // cold isolate whose first sync is slow or fails never serves what a purge meanwhile removed.
    if (env.CONTROL) this.purges.setPending(Date.now());
    this.snapshots = new SnapshotClient({
      control: env.CONTROL,
      controlHost: env.CONTROL_HOST ?? DEFAULT_CONTROL_HOST,
      popToken: env.POP_TOKEN,
      popName: name,
      identity: this.identity,
      refreshMs: settings.SNAPSHOT_REFRESH_MS,
      longPollMs: settings.SNAPSHOT_LONG_POLL_MS,
      coldStartWaitMs: 500,
      syncReport: () => ({ purgeSeq: this.purges.highestSeq, epoch: this.purgeEpoch, ...(this.unconfirmed ? { unconfirmed: true } : {}), ...this.identity.figures() }),
      metrics: () => this.identity.figures(),
      metricsReportMs: settings.METRICS_REPORT_MS,
      onCatchUp: (catchUp, offset, uncertainty) => {
        this.adoptPurgeEpoch(catchUp.header.epoch);
        this.purges.applyCatchUp(catchUp, Date.now(), offset, uncertainty);
      },
      onSnapshot: (next, offset, uncertainty) => {
        this.adoptPurgeEpoch(next.purgeEpoch);
        this.applyPurges(next.purges, offset, uncertainty);
        this.purges.noteIssued(next, offset, uncertainty);
        this.unconfirmed = next.unconfirmed === true;
        return this.purges.highestSeq;
      },
    });
  }

  /** A new epoch numbers its rules from 1 again: keep the rules we hold, forget the numbering. */
  private adoptPurgeEpoch(epoch: string | undefined): void {
    if (epoch === undefined || epoch === this.purgeEpoch) return;
    if (this.purgeEpoch !== undefined) this.purges.highestSeq = 0;
    this.purgeEpoch = epoch;
  }

  /** This isolate's own figures since it started: counters, series, origins as it sees them, where it is. */
  ownFigures(): PopMetrics {
    const now = Date.now();
    const origins: NonNullable<PopMetrics["origins"]> = {};
    for (const o of this.config.origins) {
      const stats = this.originStats[o.id] ?? { requests: 0, errors: 0 };
      origins[o.id] = { ...stats, ejected: this.outliers.isEjected(o.id, now), ejections: this.outliers.totalEjections(o.id) };
    }
    // Shield shards this POP has used, as upstreams like the origins.
    for (const [id, stats] of Object.entries(this.originStats)) {
      if (id.startsWith("shield:")) origins[id] = { ...stats, ejected: this.outliers.isEjected(id, now), ejections: this.outliers.totalEjections(id) };
    }
    return { counters: { ...this.counters }, series: this.series.report(), origins, ...(this.location ? { location: this.location } : {}) };
  }

  /** One response to a client: its cache result, status class and time to first byte. */
  recordResponse(result: CacheResult, status: number, ttfbMs: number): void {
    this.series.count("responses", [statusClass(status), result]);
    this.series.observe("ttfb", [result], ttfbMs / 1000);
  }

  readonly countServedBytes = (bytes: number): void => {
    this.counters.servedBytes += bytes;
  };

  countStale(reason: StaleReason): void {
    this.counters.staleServes++;
    this.series.count("staleByReason", [reason]);
  }

  /**
   * New purge rules: the ban list answers for everything stored; hard purges
   * also free the in-isolate tier now, and URL purges delete their Cache API
   * entry (the ban list covers what cannot be listed).
   */
  applyPurges(rules: readonly PurgeRule[], clockOffsetMs = 0, uncertaintyMs = 0): void {
    const applied = this.purges.apply(rules, Date.now(), clockOffsetMs, uncertaintyMs);
    const newest = applied.at(-1);
    if (newest) this.lastPurgeApplied = { seq: newest.seq, at: Date.now() };
    const hard = applied.filter((rule) => !rule.soft);
    if (hard.length === 0) return;
    // One pass, asking the same ban list that lookups ask.
    this.memory.deleteWhere(
      (_, item) => item.record.kind === "entry" && this.purges.verdict(item.record.meta.key, item.record.meta.tags, item.record.meta.requestTime).kind === "hard",
    );
    for (const rule of hard) for (const target of rule.targets) if (target.kind === "url") void this.store.delete(target.value);
  }

  /**
   * Applies purges a lower tier has already applied before answering it: a POP
   * that purged must not refill the purged copy from a shield that has not.
   */
  async catchUpWith(purgeSeq: number, epoch: string | undefined): Promise<void> {
    const behind = epoch !== undefined && (epoch !== this.purgeEpoch || purgeSeq > this.purges.highestSeq);
    if (behind) await waitAtMost(this.snapshots.refresh(Date.now()), 1000, undefined);
  }

  get isShield(): boolean {
    return this.options.shield !== undefined;
  }

  private readonly negotiated = new Map<string, Negotiated>();

  /** Content coding for a client's Accept-Encoding; browsers send a handful of distinct values, so remember them. */
  negotiate(acceptEncoding: string | null): Negotiated {
    if (acceptEncoding === null) return "identity";
    let coding = this.negotiated.get(acceptEncoding);
    if (coding === undefined) {
      coding = negotiateEncoding(acceptEncoding, this.codings);
      if (this.negotiated.size > 256) this.negotiated.clear();
      this.negotiated.set(acceptEncoding, coding);
    }
    return coding;
  }

  /**
   * The tier behind memory: a POP's Cache API (caches.default, opened on first
   * use: it does not exist outside workerd), or the store a shield was given.
   */
  get store(): CacheStore {
    this.secondTier ??= this.options.store?.() ?? new CacheApiTier(caches.default);
    return this.secondTier;
  }

  siteFor(hostname: string): SiteConfig | undefined {
    return this.sitesByHost.get(hostname.toLowerCase());
  }

  /** The origins of a site with the control plane's run-time overrides applied. */
  originsOf(site: SiteConfig): OriginConfig[] {
    const overrides = this.snapshots.snapshot.origins;
    return site.origins.map((id) => {
      const origin = this.originsById.get(id)!;
      return { ...origin, ...overrides[id] };
    });
  }

  /** The origins a miss may try, in order (see routing/balancer.ts). */
  candidates(site: SiteConfig, cf: IncomingRequestCfProperties | undefined, now: number): Candidates {
    const result = candidatesFor({
      site,
      origins: this.originsOf(site),
      location: popPlace(cf),
      loadBalancing: this.config.loadBalancing,
      health: this.snapshots.snapshot.health,
      admits: (id) => this.outliers.admits(id, now),
    });
    if (result.panic) this.counters.panicRoutes++;
    return result;
  }

  /** Sends pending passive-health events to the control plane, behind the response. */
  flushReports(waitUntil: (p: Promise<unknown>) => void): void {
    if (this.pendingReports.length === 0) return;
    const events = this.pendingReports;
    this.pendingReports = [];
    waitUntil(
      this.snapshots.report(events).then((ok) => {
        if (!ok) this.pendingReports.unshift(...events.slice(-50));
      }),
    );
  }
}

/**
 * A shield shard's configuration: its own memory bound, objects up to
 * shield.maxObjectBytes, and no compression (it answers POPs, which ask for
 * identity and compress for their clients).
 */
function asShield(config: OutpostConfig): OutpostConfig {
  return {
    ...config,
    cache: { ...config.cache, memoryBytes: config.shield.memoryBytes, maxObjectBytes: Math.min(config.cache.maxObjectBytes, config.shield.maxObjectBytes) },
    compression: { ...config.compression, enabled: false },
  };
}

let current: { config: string; name: string; pop: Pop } | undefined;

/**
 * The isolate's Pop for this configuration and name; a changed configuration
 * (a new deploy's variable, or the control plane's) builds a new one. (A shield shard's Pop belongs to its Durable Object instead.)
 */
export function popFor(env: Env, cf: IncomingRequestCfProperties | undefined): Pop {
  const colo = typeof cf?.colo === "string" && cf.colo ? cf.colo : undefined;
  const name = `Outpost-${colo ?? env.POP_NAME ?? "local"}`;
  // The same string object comes with every request: comparing it is cheap.
  const text = configText(env);
  if (current && current.config === text && current.name === name) return current.pop;
  const pop = new Pop(env, name);
  // The colo's own place (cf.latitude/longitude are the client's on Cloudflare); the city only
  // when the request's coordinates stood in for an unknown colo.
  const place = popPlace(cf);
  if (place) pop.location = { ...place, ...(!coloPoint(colo) && typeof cf?.city === "string" ? { city: cf.city } : {}) };
  current = { config: text, name, pop };
  return pop;
}
