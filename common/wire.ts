/**
 * What POPs send the control plane, as zod schemas; the TypeScript types are
 * inferred from them, so the wire is declared once. The control API
 * validates with these; the POP's side builds values of these types.
 */
import { z } from "zod";

/** The longest a sync may be held. */
export const MAX_SYNC_WAIT_MS = 25_000;
/** Series a POP may report at once: its declared labelled metrics over every origin, with room to spare. */
export const MAX_REPORTED_SERIES = 1000;

/** One origin (or shield shard) as one POP sees it. */
export const PopOriginViewSchema = z
  .object({
    requests: z.number().min(0),
    errors: z.number().min(0),
    ejected: z.boolean().optional(),
    /** Ejections since the POP's isolate started. */
    ejections: z.number().int().min(0).optional(),
  })
  .strict();
export type PopOriginView = z.infer<typeof PopOriginViewSchema>;

export const PopLocationSchema = z
  .object({
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    city: z.string().max(64).optional(),
  })
  .strict();
export type PopLocation = z.infer<typeof PopLocationSchema>;

/** A POP's figures: its counters, labelled series (see common/metrics/series.ts), origins as it sees them, where it is. */
export const PopMetricsSchema = z.object({
  counters: z.record(z.string().max(64), z.number().min(0)).optional(),
  series: z
    .record(z.string().max(160), z.array(z.number().min(0)).max(32))
    .refine((s) => Object.keys(s).length <= MAX_REPORTED_SERIES, `at most ${MAX_REPORTED_SERIES} series`)
    .optional(),
  origins: z.record(z.string().max(96), PopOriginViewSchema).optional(),
  location: PopLocationSchema.optional(),
});
export type PopMetrics = z.infer<typeof PopMetricsSchema>;

export const SyncModeSchema = z.enum(["long-poll", "poll"]);
export type SyncMode = z.infer<typeof SyncModeSchema>;

/**
 * An isolate's own id: a colo runs many isolates under one POP name, and the
 * control plane keeps each one's position and figures apart (then sums them).
 */
export const IsolateIdSchema = z.string().regex(/^[0-9a-z]{1,32}$/, "lowercase letters and digits, at most 32");
/** An isolate the control plane has not heard from for this long is gone: its figures join its POP's retired total. */
export const ISOLATE_GONE_MS = 15 * 60_000;
/**
 * An isolate silent this long (no sync answered) takes a new id and counts from zero, well before
 * the control plane could take it for gone: a row the control plane retired never comes back.
 */
export const ISOLATE_RENEW_MS = 10 * 60_000;

/** A POP's sync: where it is (snapshot version, purges applied), its figures, and how long it may be held. */
export const SyncRequestSchema = PopMetricsSchema.extend({
  pop: z.string().min(1).max(64),
  isolate: IsolateIdSchema.optional(),
  have: z.number().int().min(0),
  purgeSeq: z.number().int().min(0),
  /** The purge epoch the POP's sequence belongs to. */
  epoch: z.string().max(64).optional(),
  /** Hold the answer until there is news past `have` / `purgeSeq`, at most this many ms. */
  wait: z.number().int().min(0).max(MAX_SYNC_WAIT_MS).optional(),
  mode: SyncModeSchema.optional(),
  /** The POP's last answer was unconfirmed (a relay out of touch): answered at once when there is one it vouches for. */
  unconfirmed: z.literal(true).optional(),
}).strict();
export type SyncRequest = z.infer<typeof SyncRequestSchema>;
/** What the control plane records of a sync (the wait is how it is answered, not what it says). */
export type SyncReport = Omit<SyncRequest, "wait">;

export const ReportEventSchema = z
  .object({
    kind: z.enum(["ejected", "restored"]),
    originId: z.string().min(1).max(64),
    at: z.number(),
    until: z.number().optional(),
    reason: z.string().max(256).optional(),
  })
  .strict();
export type ReportEvent = z.infer<typeof ReportEventSchema>;

/** Passive-health events, and (between syncs) the POP's figures, so dashboards stay live while syncs are held. */
export const ReportSchema = z
  .object({
    pop: z.string().min(1).max(64),
    isolate: IsolateIdSchema.optional(),
    events: z.array(ReportEventSchema).max(100).default([]),
    metrics: PopMetricsSchema.strict().optional(),
  })
  .strict();
export type Report = z.infer<typeof ReportSchema>;

/** Keys an invalidation carries at most (the target URI, Location, Content-Location). */
export const MAX_INVALIDATION_KEYS = 8;
/** How long the control plane holds an invalidation's answer for the colo's other isolates to get it. */
export const INVALIDATION_WAIT_MS = 250;

/**
 * RFC 9111 §4.4 across a colo's isolates: an unsafe request that succeeded at
 * one isolate invalidates its targets in the others' memory too. The POP sends
 * the primary keys it invalidated; the control plane makes them a purge rule
 * and answers once the isolates of that POP it hears from have it.
 */
export const InvalidationSchema = z
  .object({
    pop: z.string().min(1).max(64),
    isolate: IsolateIdSchema.optional(),
    keys: z.array(z.string().min(1).max(4096)).min(1).max(MAX_INVALIDATION_KEYS),
  })
  .strict();
export type Invalidation = z.infer<typeof InvalidationSchema>;

/** Run-time changes to an origin (PATCH /v1/origins/{id}); the control plane keeps and publishes them. */
export const OriginOverrideSchema = z
  .object({
    weight: z.number().int().min(0).max(1000).optional(),
    enabled: z.boolean().optional(),
    draining: z.boolean().optional(),
  })
  .strict();
export type OriginOverride = z.infer<typeof OriginOverrideSchema>;
export const OriginPatchSchema = OriginOverrideSchema.refine((v) => Object.keys(v).length > 0, "give at least one of weight, enabled, draining");

export const OriginHealthViewSchema = z.object({
  healthy: z.boolean(),
  /** ms since the epoch of the last transition. */
  since: z.number(),
  reason: z.string().optional(),
});
export type OriginHealthView = z.infer<typeof OriginHealthViewSchema>;

/** What one purge removes (Cloudflare's purge body, normalized). */
export const PurgeTargetSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("url"), value: z.string() }),
  z.object({ kind: z.literal("prefix"), value: z.string() }),
  z.object({ kind: z.literal("tag"), value: z.string() }),
  z.object({ kind: z.literal("host"), value: z.string() }),
  z.object({ kind: z.literal("everything") }),
]);
export type PurgeTarget = z.infer<typeof PurgeTargetSchema>;

/** One purge as POPs apply it: entries fetched before `at` that match a target are gone (or stale, when soft). */
export const PurgeRuleSchema = z.object({
  seq: z.number().int(),
  id: z.string(),
  /** When the control plane accepted it, ms since the epoch. */
  at: z.number(),
  soft: z.boolean(),
  targets: z.array(PurgeTargetSchema),
});
export type PurgeRule = z.infer<typeof PurgeRuleSchema>;

/** The answer to a sync: what every POP must know, versioned so a POP can ask "anything newer than N?". */
export const SnapshotSchema = z.object({
  /** Grows with every change; POPs keep the highest they have applied. */
  version: z.number().int(),
  generatedAt: z.number(),
  origins: z.record(z.string(), OriginOverrideSchema),
  health: z.record(z.string(), OriginHealthViewSchema),
  /** Purge rules with a sequence number above the one the POP said it has (all retained ones for a new POP), in pages. */
  purges: z.array(PurgeRuleSchema),
  /**
   * The POP is too far behind for pages: it fetches the folded catch-up (GET /v1/sync/catch-up,
   * common/catch-up.ts) and then syncs on from where that leaves it; `purges` is empty.
   */
  catchUp: z.literal(true).optional(),
  /**
   * A regional relay serves what it last heard while the global object does not answer it: purges may
   * have come since. An isolate then keeps counting what it stored before it started as purged; the
   * relay sends the state again, without this, once the global object answers.
   */
  unconfirmed: z.literal(true).optional(),
  /** The highest purge sequence number issued. */
  purgeSeq: z.number().int(),
  /** When the rule numbered purgeSeq was accepted (the control plane's clock): a POP behind treats older entries as purged. */
  purgeAt: z.number().optional(),
  /** The epoch that sequence belongs to; a POP that sees a new one resyncs its sequence from zero. */
  purgeEpoch: z.string().optional(),
  /** The version of the configuration the control plane holds (0 or absent: none; run OUTPOST_CONFIG). */
  configVersion: z.number().int().min(0).optional(),
  /** The window over which an isolate spreads its first retry after a failed sync, ms (control/retry-spread.ts). */
  retrySpreadMs: z.number().int().min(0).optional(),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;
