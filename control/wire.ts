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

/** A POP's figures: its counters, labelled series (see edge/metrics/series.ts), origins as it sees them, where it is. */
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

/** A POP's sync: where it is (snapshot version, purges applied), its figures, and how long it may be held. */
export const SyncRequestSchema = PopMetricsSchema.extend({
  pop: z.string().min(1).max(64),
  have: z.number().int().min(0),
  purgeSeq: z.number().int().min(0),
  /** The purge epoch the POP's sequence belongs to. */
  epoch: z.string().max(64).optional(),
  /** Hold the answer until there is news past `have` / `purgeSeq`, at most this many ms. */
  wait: z.number().int().min(0).max(MAX_SYNC_WAIT_MS).optional(),
  mode: SyncModeSchema.optional(),
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
    events: z.array(ReportEventSchema).max(100).default([]),
    metrics: PopMetricsSchema.strict().optional(),
  })
  .strict();
export type Report = z.infer<typeof ReportSchema>;
