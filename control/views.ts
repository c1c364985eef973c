/**
 * What the control plane's state looks like to its readers (the API, the
 * metrics exposition, the dashboard), declared once as zod schemas: the API
 * documents its answers with them (routes.ts, openapi.ts), and the state and
 * its readers use the types inferred from them. Imports nothing of control/,
 * so that the state and its readers depend on it and not on each other.
 */
import { z } from "zod";
import { PopOriginViewSchema, PurgeTargetSchema, type PopMetrics, type SyncMode } from "../common/wire";
import type { SeriesReport } from "../common/metrics/series";

/** An origin as the probes see it. */
export const ActiveHealthSchema = z.object({
  healthy: z.boolean(),
  /** When the current state began, ms since the epoch. */
  since: z.number(),
  consecutiveSuccesses: z.number().int(),
  consecutiveFailures: z.number().int(),
  lastCheckAt: z.number(),
  lastResult: z.string(),
  latencyMs: z.number().nullable(),
});
export type ActiveHealth = z.infer<typeof ActiveHealthSchema>;

export const HealthTransitionSchema = z.object({ originId: z.string(), at: z.number(), from: z.enum(["up", "down"]), to: z.enum(["up", "down"]), reason: z.string() });
export type HealthTransition = z.infer<typeof HealthTransitionSchema>;

/** A POP's passive verdict on an origin, shared with every POP until it runs out. */
export const PassiveReportSchema = z.object({
  pop: z.string(),
  /** The isolate of that POP that ejected it: only it may restore it. */
  isolate: z.string().optional(),
  at: z.number(),
  until: z.number(),
  reason: z.string(),
});
export type PassiveReport = z.infer<typeof PassiveReportSchema>;

export const HealthReportSchema = z.object({
  origins: z.record(
    z.string(),
    z.object({
      healthy: z.boolean(),
      reason: z.string().nullable(),
      active: ActiveHealthSchema.nullable(),
      passive: PassiveReportSchema.nullable(),
      pops: z.record(z.string(), PopOriginViewSchema).describe("As each POP sees it, from its last sync"),
    }),
  ),
  transitions: z.array(HealthTransitionSchema),
});
export type HealthReport = z.infer<typeof HealthReportSchema>;

export const CloudflarePurgeCallSchema = z.object({
  body: z.record(z.string(), z.unknown()),
  status: z.number().int(),
  success: z.boolean(),
  errors: z.array(z.object({ code: z.number(), message: z.string() })),
});
export type CloudflarePurgeCall = z.infer<typeof CloudflarePurgeCallSchema>;
export const CloudflarePurgeResultSchema = z.object({ ok: z.boolean(), calls: z.array(CloudflarePurgeCallSchema) });
export type CloudflarePurgeResult = z.infer<typeof CloudflarePurgeResultSchema>;

export const PurgeStatusSchema = z.object({
  id: z.string(),
  seq: z.number().int(),
  at: z.number(),
  soft: z.boolean(),
  targets: z.array(PurgeTargetSchema),
  pops: z.array(
    z.object({
      name: z.string(),
      applied: z.boolean(),
      idle: z.boolean().describe("Has not synced since the purge: it applies it before answering its next request."),
      lastSyncAt: z.number(),
      isolates: z.number().int().describe("The POP's isolates the control plane knows (a colo runs several)"),
      isolatesApplied: z.number().int().describe("Of those, the ones the purge has reached"),
    }),
  ),
  cloudflare: z.union([CloudflarePurgeResultSchema, z.literal("not configured"), z.literal("pending")]).describe("Cloudflare's own purge: its result, or why there is none yet."),
});
export type PurgeStatus = z.infer<typeof PurgeStatusSchema>;

/** Rates and ratios between two samples; absent where nothing happened. */
export const WindowStatsSchema = z.object({
  seconds: z.number(),
  requestsPerSecond: z.number(),
  /** Hits (fresh and stale) over lookups that found or missed something. */
  hitRatio: z.number().optional(),
  /** 1 − bytes from origins / bytes served as if uncompressed (compression is not the cache's saving). */
  byteOffload: z.number().optional(),
  servedBytesPerSecond: z.number(),
  p50Ms: z.number().optional(),
  p99Ms: z.number().optional(),
});
export type WindowStats = z.infer<typeof WindowStatsSchema>;

export const LiveEventSchema = z.object({
  at: z.number(),
  kind: z.enum(["ejected", "restored", "origin-down", "origin-up"]),
  origin: z.string(),
  /** The POP that ejected or restored it; absent for the probes' verdicts. */
  pop: z.string().optional(),
  detail: z.string().optional(),
});
export type LiveEvent = z.infer<typeof LiveEventSchema>;

export const DashboardPopSchema = z.object({
  name: z.string(),
  latitude: z.number().nullable(),
  longitude: z.number().nullable(),
  city: z.string().nullable(),
  mode: z.enum(["long-poll", "poll"]),
  lastSyncAt: z.number(),
  purgeSeqApplied: z.number().int(),
  /** Over the last minute (or since figures began), when there are two samples. */
  window: WindowStatsSchema.nullable(),
  totals: z.object({ requests: z.number(), hits: z.number(), misses: z.number(), servedBytes: z.number(), originBytes: z.number() }),
  /** Requests per second, a point per sample, oldest first. */
  rates: z.array(z.object({ at: z.number(), requestsPerSecond: z.number() })),
  /** Each origin as this POP sees it. */
  origins: z.record(z.string(), z.object({ ejected: z.boolean(), requests: z.number(), errors: z.number() })),
});
export type DashboardPop = z.infer<typeof DashboardPopSchema>;

export const DashboardOriginSchema = z.object({
  id: z.string(),
  region: z.string().nullable(),
  latitude: z.number(),
  longitude: z.number(),
  /** As the control plane publishes it to POPs (probes, and POPs' ejections). */
  healthy: z.boolean(),
  reason: z.string().nullable(),
  probe: z.object({ up: z.boolean(), lastResult: z.string(), latencyMs: z.number().nullable() }).nullable(),
  /** POPs that have it ejected now. */
  ejectedBy: z.array(z.string()),
});
export type DashboardOrigin = z.infer<typeof DashboardOriginSchema>;

export const DashboardPurgeSchema = z.object({
  id: z.string(),
  at: z.number(),
  soft: z.boolean(),
  targets: z.array(z.string()),
  /** Accepted → delivered to every POP with traffic; null while some have not got it. */
  reachedAllMs: z.number().nullable(),
  /** idle: has not synced since the purge; it applies it before answering its next request. */
  pops: z.array(z.object({ name: z.string(), ms: z.number().nullable(), idle: z.boolean() })),
});
export type DashboardPurge = z.infer<typeof DashboardPurgeSchema>;

export const DashboardViewSchema = z
  .object({
    generatedAt: z.number(),
    windowSeconds: z.number(),
    pops: z.array(DashboardPopSchema),
    origins: z.array(DashboardOriginSchema),
    purges: z.array(DashboardPurgeSchema),
    events: z.array(LiveEventSchema),
    purgeSeq: z.number().int(),
    /** Folded catch-ups served since the control plane started, and the last one's bytes. */
    catchUps: z.object({ served: z.number().int(), lastBytes: z.number().int() }),
    /** Isolates' syncs each regional relay holds, by relay (its location hint), as its last batch said. */
    relays: z.record(z.string(), z.number().int()),
  })
  .describe("What /dashboard draws (control/dashboard-view.ts builds it).");
export type DashboardView = z.infer<typeof DashboardViewSchema>;

/** What the control plane keeps of each POP's syncs (a row each): internal, never an answer as a whole. */
export interface PopSync {
  /** The POP's name (Outpost-<colo>), shared by every isolate of the colo. */
  name: string;
  /** The isolate's own id (a row is one isolate); absent from POPs that send none. */
  isolate?: string;
  /** When the control plane first heard from the isolate (rows from before it was kept: 0). */
  since?: number;
  lastSyncAt: number;
  /** Until when its relay holds its sync open (news goes down it): absent when none is held. */
  heldUntil?: number;
  /** How the POP keeps up: a held sync answered on news ("long-poll"), or interval polling ("poll"). */
  mode?: SyncMode;
  /** Syncs answered (kept with the POP's row, so up to 10 s behind after a restart): the load each POP makes. */
  syncs?: number;
  /** Figure reports between syncs (METRICS_REPORT_MS), counted since the control plane started: the rest of that load. */
  reports?: number;
  versionApplied: number;
  /** The highest purge sequence number the POP has applied. */
  purgeSeqApplied: number;
  /**
   * The highest sequence sent to it in a sync answer. A POP applies rules on
   * receipt, before it answers anything else, so what was delivered is applied.
   */
  purgeSeqDelivered?: number;
  /** Accepted → applied at this POP, for its latest purge (as seen at the next sync). */
  lastPurgeLagMs: number | null;
  counters: Record<string, number>;
  /** Labelled series (common/metrics/series.ts), only those whose labels are in their declared domains. */
  series?: SeriesReport;
  origins: Record<string, z.infer<typeof PopOriginViewSchema>>;
  location?: PopMetrics["location"];
}
