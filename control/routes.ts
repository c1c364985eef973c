/**
 * Every route of the control API, declared once: method, path, who may call
 * it, what it takes (zod) and what it answers (zod, or a media type). The
 * app registers its handlers against these declarations (authentication,
 * body limits and validation come from them), and the OpenAPI document is
 * generated from them, so neither can drift from the other.
 */
import { z } from "zod";
import type { Scope } from "../common/auth";
import { ConfigSchema } from "../common/config";
import { CloudflareErrorSchema, PurgeResultSchema, ZoneListQuerySchema, ZoneListSchema, ZoneResultSchema } from "./cloudflare-api";
import { MAX_PURGE_ITEMS, PurgeBodySchema } from "./purge-request";
import { InvalidationSchema, OriginOverrideSchema, OriginPatchSchema, ReportSchema, SnapshotSchema, SyncRequestSchema } from "../common/wire";
import { SHIELD_ROUTE } from "../common/shield/protocol";
import { DashboardViewSchema, HealthReportSchema, PurgeStatusSchema } from "./views";

/** Bodies larger than this are refused (413) before they are read whole. */
export const MAX_BODY_BYTES = 64 * 1024;
/** A configuration put to the control plane: far past Cloudflare's 5 KB a variable, well inside a Durable Object's memory. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const HeldConfigSchema = z.object({
  version: z.number().int().describe("0: no configuration is held; POPs run the OUTPOST_CONFIG variable"),
  source: z.enum(["control plane", "variable"]),
  config: z.record(z.string(), z.unknown()),
});

/** How a route's errors are shaped: Outpost's problem object, or Cloudflare's envelope. */
export type ErrorShape = "outpost" | "cloudflare";

export const ProblemSchema = z
  .object({
    error: z.string(),
    status: z.number().int(),
    problems: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    retryAfterSeconds: z.number().optional(),
  })
  .describe("Outpost's error: what was wrong, and each bad field.");

interface JsonAnswer {
  description: string;
  schema: z.ZodType;
}
interface MediaAnswer {
  description: string;
  mediaType: string;
}
export type Answer = JsonAnswer | MediaAnswer;

export interface RouteSpec {
  method: "get" | "post" | "put" | "patch" | "all";
  /** Hono's form: /v1/purge/:id. */
  path: string;
  summary: string;
  /** Who may call it; absent: anyone. */
  scope?: Scope;
  errors: ErrorShape;
  /** A JSON body, validated; absent: none is read. */
  body?: z.ZodType;
  /** Bodies larger are refused (413); default MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Query parameters, validated. */
  query?: z.ZodObject;
  /** Path parameters and what they are. */
  params?: Record<string, string>;
  /** Success answers, by status. */
  answers: Record<number, Answer>;
  /** Statuses the route itself may answer besides the ones auth and body validation add (404 …). */
  refusals?: Partial<Record<400 | 404 | 503, string>>;
  /** Not for people: used between Outpost's own parts. */
  internal?: boolean;
  /** Limits worth stating in the document. */
  limits?: string;
}

const PurgeAcceptedSchema = z.object({
  success: z.literal(true),
  errors: z.array(z.never()),
  messages: z.array(z.never()),
  result: z.object({ id: z.string(), seq: z.number().int(), soft: z.boolean(), targets: z.number().int(), at: z.string() }),
});

const PopListSchema = z.object({
  pops: z.array(
    z.object({
      name: z.string(),
      isolates: z.number().int().describe("Isolates of this POP seen lately; the other figures are their sum, or their furthest behind"),
      mode: z.enum(["long-poll", "poll"]),
      lastSyncAt: z.number(),
      syncs: z.number().int(),
      reports: z.number().int().describe("Figure reports between syncs, since the control plane started"),
      versionApplied: z.number().int(),
      purgeSeqApplied: z.number().int(),
      lastPurgeLagMs: z.number().nullable(),
    }),
  ),
});

const OriginListSchema = z.object({
  origins: z.array(
    z
      .object({ id: z.string(), url: z.string(), region: z.string().optional(), latitude: z.number(), longitude: z.number(), weight: z.number() })
      .extend(OriginOverrideSchema.shape)
      .loose(),
  ),
});

const OriginPatchedSchema = z.object({ id: z.string(), version: z.number().int(), override: OriginOverrideSchema });

const ShieldFaultSchema = z.object({ down: z.boolean() }).strict();

const zoneParam = { zone_id: "The zone's id (GET /client/v4/zones lists them): one per configured site." };
const shardParams = { region: "A shield region (an origin region)", shard: "The shard's number, 0 to shield.shardsPerRegion − 1" };

export const ROUTES = {
  healthz: {
    method: "get",
    path: "/healthz",
    summary: "Liveness of the control API",
    errors: "outpost",
    answers: { 200: { description: "Up", schema: z.object({ ok: z.literal(true) }) } },
  },
  openapi: {
    method: "get",
    path: "/v1/openapi.json",
    summary: "This document, generated from the routes' schemas",
    errors: "outpost",
    answers: { 200: { description: "OpenAPI 3.1", mediaType: "application/json" } },
  },

  purge: {
    method: "post",
    path: "/v1/purge",
    summary: "Purge by URL, prefix, tag, host, or everything; hard or soft",
    scope: "purge",
    errors: "outpost",
    body: PurgeBodySchema,
    limits: `At most ${MAX_PURGE_ITEMS} items per call; URLs, prefixes and hosts must belong to configured hosts; body at most ${MAX_BODY_BYTES} bytes.`,
    answers: { 200: { description: "Accepted: purge id and sequence number", schema: PurgeAcceptedSchema } },
  },
  purgeStatus: {
    method: "get",
    path: "/v1/purge/:id",
    summary: "Which POPs have applied a purge",
    scope: "read",
    errors: "outpost",
    params: { id: "The purge's id, as POST /v1/purge answered it" },
    answers: { 200: { description: "Where the purge has reached", schema: PurgeStatusSchema } },
    refusals: { 404: "No such purge (or older than the retention)" },
  },
  origins: {
    method: "get",
    path: "/v1/origins",
    summary: "Origins with their run-time overrides",
    scope: "read",
    errors: "outpost",
    answers: { 200: { description: "Origins", schema: OriginListSchema } },
  },
  patchOrigin: {
    method: "patch",
    path: "/v1/origins/:id",
    summary: "Change an origin's weight, enabled or draining at every POP",
    scope: "admin",
    errors: "outpost",
    params: { id: "A configured origin's id" },
    body: OriginPatchSchema,
    answers: { 200: { description: "The new override and snapshot version", schema: OriginPatchedSchema } },
    refusals: { 404: "No such origin" },
  },
  health: {
    method: "get",
    path: "/v1/health",
    summary: "Each origin's health: probes, POP ejections, transitions",
    scope: "read",
    errors: "outpost",
    answers: { 200: { description: "Health", schema: HealthReportSchema } },
  },
  pops: {
    method: "get",
    path: "/v1/pops",
    summary: "POPs: sync mode, last sync, version and purge sequence applied",
    scope: "read",
    errors: "outpost",
    answers: { 200: { description: "POPs", schema: PopListSchema } },
  },
  metrics: {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics for every POP, origin and purge",
    scope: "read",
    errors: "outpost",
    answers: { 200: { description: "Prometheus text exposition", mediaType: "text/plain; version=0.0.4" } },
  },
  dashboardData: {
    method: "get",
    path: "/v1/dashboard",
    summary: "What the live dashboard draws",
    scope: "read",
    errors: "outpost",
    answers: { 200: { description: "POPs, origins, purges, events", schema: DashboardViewSchema } },
  },
  dashboardPage: {
    method: "get",
    path: "/dashboard",
    summary: "The live dashboard (it holds no data; its script reads /v1/dashboard with a read token)",
    errors: "outpost",
    answers: { 200: { description: "The page", mediaType: "text/html" } },
  },
  dashboardScript: {
    method: "get",
    path: "/dashboard/app.js",
    summary: "The dashboard's script",
    errors: "outpost",
    answers: { 200: { description: "JavaScript", mediaType: "text/javascript" } },
  },
  dashboardStyles: {
    method: "get",
    path: "/dashboard/app.css",
    summary: "The dashboard's stylesheet",
    errors: "outpost",
    answers: { 200: { description: "CSS", mediaType: "text/css" } },
  },
  shieldFault: {
    method: "post",
    path: "/v1/shields/:region/:shard/fault",
    summary: 'A shield shard\'s fault switch, for chaos runs: {"down": true} makes it answer as unavailable',
    scope: "admin",
    errors: "outpost",
    params: shardParams,
    body: ShieldFaultSchema,
    answers: { 200: { description: "The shard's new state", schema: z.object({ shield: z.string(), down: z.boolean() }).loose() } },
    refusals: { 404: "No such region or shard, or no SHIELD binding" },
  },

  zones: {
    method: "get",
    path: "/client/v4/zones",
    summary: "Cloudflare-compatible: each configured site as a zone",
    scope: "read",
    errors: "cloudflare",
    query: ZoneListQuerySchema,
    answers: { 200: { description: "Zones, in Cloudflare's envelope with result_info", schema: ZoneListSchema } },
  },
  zone: {
    method: "get",
    path: "/client/v4/zones/:zone_id",
    summary: "Cloudflare-compatible: one zone",
    scope: "read",
    errors: "cloudflare",
    params: zoneParam,
    answers: { 200: { description: "The zone", schema: ZoneResultSchema } },
    refusals: { 404: "No such zone" },
  },
  zonePurge: {
    method: "post",
    path: "/client/v4/zones/:zone_id/purge_cache",
    summary: "Cloudflare-compatible purge: Cloudflare's body, answered as Cloudflare does; the same purge as /v1/purge, limited to the zone's hosts",
    scope: "purge",
    errors: "cloudflare",
    params: zoneParam,
    body: PurgeBodySchema,
    limits: `At most ${MAX_PURGE_ITEMS} items per call; purge_everything purges the zone's own hosts; body at most ${MAX_BODY_BYTES} bytes.`,
    answers: { 200: { description: "Accepted", schema: PurgeResultSchema } },
    refusals: { 404: "No such zone" },
  },

  snapshot: {
    method: "get",
    path: "/v1/snapshot",
    summary: "A POP's snapshot (the older form of /v1/sync)",
    scope: "pop",
    errors: "outpost",
    internal: true,
    query: z.object({ pop: z.string().max(64).optional(), have: z.coerce.number().int().min(0).default(0) }),
    answers: { 200: { description: "The snapshot", schema: SnapshotSchema } },
  },
  sync: {
    method: "post",
    path: "/v1/sync",
    summary: "A POP's sync: its position and figures in, the snapshot (with new purge rules) out; held until news when `wait` is given",
    scope: "pop",
    errors: "outpost",
    internal: true,
    body: SyncRequestSchema,
    answers: { 200: { description: "The snapshot", schema: SnapshotSchema } },
  },
  reports: {
    method: "post",
    path: "/v1/reports",
    summary: "A POP's passive ejections and recoveries (shared with every POP), and its figures between held syncs",
    scope: "pop",
    errors: "outpost",
    internal: true,
    body: ReportSchema,
    answers: { 200: { description: "The snapshot version after the report", schema: z.object({ version: z.number().int() }) } },
  },
  config: {
    method: "get",
    path: "/v1/config",
    summary: "The configuration every POP runs: the one held here (PUT /v1/config), else the OUTPOST_CONFIG variable",
    scope: "read",
    errors: "outpost",
    answers: { 200: { description: "Its version (0: the variable) and the configuration", schema: HeldConfigSchema } },
  },
  putConfig: {
    method: "put",
    path: "/v1/config",
    summary: "Replaces the configuration every POP runs (validated; each POP takes it at its next sync, within its held sync)",
    scope: "admin",
    errors: "outpost",
    body: ConfigSchema,
    maxBodyBytes: MAX_CONFIG_BYTES,
    limits: `At most ${MAX_CONFIG_BYTES / 1024 / 1024} MiB. Stored as a row per origin, a row per site and one for the rest.`,
    answers: { 200: { description: "The new version", schema: z.object({ version: z.number().int() }) } },
  },
  popConfig: {
    method: "get",
    path: "/v1/sync/config",
    summary: "The held configuration's text, for an isolate whose sync said its version changed; with its `pop`, fetched through its region's relay (once per version there)",
    scope: "pop",
    errors: "outpost",
    internal: true,
    query: z.object({ pop: z.string().min(1).max(64).optional() }),
    answers: { 200: { description: "Its version and text (absent: run the variable)", schema: z.object({ version: z.number().int(), text: z.string().optional() }) } },
  },
  popCatchUp: {
    method: "get",
    path: "/v1/sync/catch-up",
    summary:
      "Every purge rule in force, folded into one bounded answer, for an isolate whose sync said it is too far behind to page; with the isolate's `epoch` and `after` (its sync's purgeSeq), kept a minute in the colo's cache for the colo's other isolates; with its `pop`, fetched through its region's relay (kept there per band of positions)",
    scope: "pop",
    errors: "outpost",
    internal: true,
    limits: "About 1 MiB for 400,000 purged names (the catch-up after 800,000 purges over 8 days): `npm run bench -- --only scale`.",
    query: z.object({
      epoch: z.string().max(64).optional(),
      after: z.coerce.number().int().min(0).optional(),
      pop: z.string().min(1).max(64).optional(),
    }),
    answers: {
      200: { description: "The folded catch-up: a 4-byte length, a JSON header, Rice-coded fingerprint sets (common/catch-up.ts)", mediaType: "application/octet-stream" },
    },
  },
  invalidations: {
    method: "post",
    path: "/v1/invalidations",
    summary: "An unsafe request's invalidation at one isolate, for every other isolate (and POP): a purge rule, answered once the sender's colo has it",
    scope: "pop",
    errors: "outpost",
    internal: true,
    body: InvalidationSchema,
    answers: {
      200: {
        description: "The rule's sequence number, and whether every isolate of the sender's POP heard from lately has it",
        schema: z.object({ seq: z.number().int(), reachedColo: z.boolean() }),
      },
    },
  },
  shield: {
    method: "all",
    path: SHIELD_ROUTE,
    summary: "A POP's miss, or its invalidation after an unsafe request, for the shield shard that owns the key (POP token in x-outpost-pop-token)",
    errors: "outpost",
    internal: true,
    params: shardParams,
    answers: { 200: { description: "The upper tier's answer, whatever its status", mediaType: "*/*" } },
    refusals: { 404: "No such region or shard", 503: "The shard is unavailable (Retry-After)" },
  },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** The error body of either shape, for the document. */
export function errorSchema(shape: ErrorShape): z.ZodType {
  return shape === "cloudflare" ? CloudflareErrorSchema : ProblemSchema;
}
