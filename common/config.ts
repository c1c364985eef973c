/**
 * The configuration every POP runs with: sites (which hosts Outpost serves),
 * origins (where their content comes from, and where they are), and the knobs
 * of the cache and the origin fetch. It reaches the worker as the
 * OUTPOST_CONFIG variable (wrangler.toml in production, `npm start` locally)
 * and is validated once per isolate; the control plane may then override
 * per-origin weight/enabled/draining at run time through its snapshot.
 */
import { z } from "zod";
import { problemLines } from "./zod-issues";
import { REGIONS } from "./geo/regions";
import { CacheKeySchema, CacheSchema, CompressionSchema, VarySchema } from "./cache-config";

export { CacheKeySchema, CacheSchema, CompressionSchema, VarySchema };

const idPattern = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

/** The monitor's fields and their bounds, once; the global monitor adds defaults, an origin's overrides do not. */
const monitorFields = {
  path: z.string().startsWith("/", "must start with /").describe("Path probed on each origin."),
  method: z.enum(["GET", "HEAD"]).describe("Method of the probe."),
  headers: z.record(z.string(), z.string()).describe("Fields sent with each probe, such as a Host or a token the origin expects."),
  expectedCodes: z
    .array(z.number().int().min(100).max(599))
    .min(1)
    .describe("Status codes that count as up; unset, any answer below 500 does (a site need not have promised a health path)."),
  expectedBody: z.string().max(1024).describe("When set, the body must contain this text."),
  intervalSeconds: z.number().min(1).max(3600).describe("Seconds between two probes of an origin."),
  timeoutMs: z.number().int().min(100).max(60000).describe("A probe with no answer by then has failed."),
  healthyThreshold: z.number().int().min(1).max(100).describe("Consecutive successes before a down origin is up again."),
  unhealthyThreshold: z.number().int().min(1).max(100).describe("Consecutive failures before an up origin is down."),
};

export const MonitorSchema = z
  .object({
    // A real site has a root; it may have no /health. Any answer below 500 there says the origin is up.
    path: monitorFields.path.default("/"),
    method: monitorFields.method.default("GET"),
    headers: monitorFields.headers.default({}),
    expectedCodes: monitorFields.expectedCodes.optional(),
    expectedBody: monitorFields.expectedBody.optional(),
    intervalSeconds: monitorFields.intervalSeconds.default(5),
    timeoutMs: monitorFields.timeoutMs.default(2000),
    healthyThreshold: monitorFields.healthyThreshold.default(2),
    unhealthyThreshold: monitorFields.unhealthyThreshold.default(2),
  })
  .strict();

/** Per-origin monitor overrides: unset fields come from the global monitor. */
export const MonitorOverrideSchema = z.object(monitorFields).partial().strict();

/** Requests an isolate may have waiting on one origin's answer (circuit breaking, edge/routing/origin-slots.ts). */
export const MaxRequestsSchema = z.number().int().min(1).max(1_000_000);

export const OriginSchema = z
  .object({
    id: z
      .string()
      .regex(idPattern, "must be 1-63 letters, digits, '.', '_' or '-'")
      .describe("The origin's name in sites, metrics, the control API and Cache-Status: 1-63 letters, digits, '.', '_' or '-'."),
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), "must be an http:// or https:// URL")
      .refine((u) => {
        try {
          const parsed = new URL(u);
          return !parsed.search && !parsed.hash;
        } catch {
          return true; // the url check above already reports it
        }
      }, "must not carry a query or fragment")
      .describe("Where requests go: http:// or https://, with a path prefix if any, no query."),
    region: z.string().max(64).optional().describe("A named region (see common/geo/regions.ts) stands in for coordinates."),
    latitude: z.number().min(-90).max(90).optional().describe("Where the origin is, for proximity steering and the shield's placement: give latitude and longitude, or a region."),
    longitude: z.number().min(-180).max(180).optional().describe("See latitude."),
    weight: z.number().int().min(0).max(1000).default(100).describe("Share of the misses among origins at a similar distance; 0: never chosen."),
    enabled: z.boolean().default(true).describe("A disabled origin gets no requests; the control API can change it at run time."),
    draining: z.boolean().default(false).describe("A draining origin gets no new requests; those under way finish. The control API can change it at run time."),
    monitor: MonitorOverrideSchema.optional().describe("Overrides of the global monitor for this origin."),
    timeoutMs: z.number().int().min(50).max(120000).optional().describe("Time to this origin's response headers; originFetch.timeoutMs when unset."),
    maxRequests: MaxRequestsSchema.optional().describe("Requests an isolate may have waiting on this origin's answer at once; loadBalancing.maxRequestsPerOrigin when unset."),
  })
  .strict()
  .superRefine((o, ctx) => {
    const hasCoordinates = o.latitude !== undefined && o.longitude !== undefined;
    if (hasCoordinates) return;
    if (o.latitude !== undefined || o.longitude !== undefined) {
      ctx.addIssue({ code: "custom", path: [o.latitude === undefined ? "latitude" : "longitude"], message: "give both latitude and longitude, or a known region" });
    } else if (!o.region || !(o.region in REGIONS)) {
      ctx.addIssue({ code: "custom", path: ["region"], message: `give latitude and longitude, or one of the named regions: ${Object.keys(REGIONS).join(", ")}` });
    }
  })
  .transform((o) => {
    const point = o.latitude !== undefined && o.longitude !== undefined ? { latitude: o.latitude, longitude: o.longitude } : REGIONS[o.region!];
    return { ...o, latitude: point.latitude, longitude: point.longitude };
  });

export const SiteSchema = z
  .object({
    id: z.string().regex(idPattern, "must be 1-63 letters, digits, '.', '_' or '-'").describe("The site's name in metrics and the control API."),
    hosts: z
      .array(
        z
          .string()
          .toLowerCase()
          .regex(/^[a-z0-9.-]+$|^\[[0-9a-f:]+\]$/, "must be a bare hostname without scheme or port")
          .refine((h) => !/(^|\.)invalid$/.test(h), "the .invalid domain never resolves (RFC 6761): no client could reach the site"),
      )
      .min(1)
      .describe("Hostnames (no port, no scheme) this site answers for."),
    scheme: z
      .enum(["https", "http"])
      .default("https")
      .describe("The scheme the site is served on, told to origins (X-Forwarded-Proto) whatever the client used: the key ignores it."),
    honorRequestDirectives: z
      .boolean()
      .default(false)
      .describe(
        "Whether a client's request directives may force a trip to the origin (Cache-Control no-cache, max-age, min-fresh, no-store; Pragma: no-cache). Off by default, as on Cloudflare, Fastly and Varnish: otherwise any client can bypass the cache. When on, concurrent revalidations of one object collapse into one origin request.",
      ),
    shield: z.boolean().optional().describe("Misses go through the regional shield (the upper tier) first; unset: shield.enabled."),
    origins: z.array(z.string()).min(1).describe("Origin ids; the nearest healthy one serves each miss."),
    steering: z
      .enum(["proximity", "failover"])
      .default("proximity")
      .describe('"proximity": nearest healthy origin first, weights among origins at a similar distance. "failover": the order of `origins`, first healthy wins.'),
  })
  .strict();

export const OriginFetchSchema = z
  .object({
    timeoutMs: z.number().int().min(50).max(120000).default(10000).describe("Time to the origin's response headers before the attempt is abandoned."),
    retries: z.number().int().min(0).max(5).default(1).describe("Attempts on other origins after a connect failure or timeout (idempotent methods only)."),
    bodyIdleTimeoutMs: z
      .number()
      .int()
      .min(50)
      .max(600_000)
      .default(10_000)
      .describe("Longest pause between two chunks of an origin's body before the fill counts as failed (stalled)."),
    collapsedWaitMs: z
      .number()
      .int()
      .min(50)
      .max(600_000)
      .default(10_000)
      .describe("Longest a request waits for another request's fill of the same object (collapsing) before it goes forward on its own."),
    uploadIdleTimeoutMs: z
      .number()
      .int()
      .min(50)
      .max(600_000)
      .default(30_000)
      .describe(
        "Longest pause between two chunks of a client's request body before the request ends with 408 (nginx's client_body_timeout): a client sending a byte now and then must not hold a POP and an origin connection.",
      ),
    deadlineMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(12_000)
      .describe(
        "One budget for a GET or HEAD that goes forward: from its arrival to the status line of its answer, every trip shares it (the shield, a fall-back to the origins, retries, collapsed waits, a body awaited before answering). Past it the answer is stale or 504, never a fresh start with full timeouts.",
      ),
    maxDecodedRatio: z
      .number()
      .int()
      .min(10)
      .max(10_000)
      .default(200)
      .describe(
        "An origin body in a coding we undo (asked for identity, it sent deflate, zstd, gzip or br anyway) that decodes to more than this many bytes per encoded byte (past its first MiB), or to more than cache.maxObjectBytes, is a decompression bomb: the fill fails with 502 and nothing is stored.",
      ),
  })
  .strict();

export const OutlierDetectionSchema = z
  .object({
    consecutiveFailures: z.number().int().min(1).max(100).default(3).describe("Consecutive failures (refused, timeout, 502/503/504) after which a POP ejects an origin."),
    baseEjectionMs: z.number().int().min(100).max(3_600_000).default(10_000).describe("First ejection; each repeat doubles it (Envoy's outlier detection)."),
    maxEjectionMs: z.number().int().min(100).max(3_600_000).default(300_000).describe("Longest ejection, however often an origin is ejected again."),
  })
  .strict();

export const LoadBalancingSchema = z
  .object({
    panicThreshold: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe("Below this share of healthy origins a site spreads over all its origins instead of refusing (Envoy's panic threshold). With 0, only when none is healthy."),
    retryBudgetRatio: z.number().min(0).max(1).default(0.2).describe("Retries allowed as a share of requests, so that retries cannot double the load."),
    retryBudgetMinPerSecond: z.number().int().min(0).max(10_000).default(5).describe("Retries always allowed per second, however few the requests."),
    maxRequestsPerOrigin: MaxRequestsSchema.default(1024).describe(
      "Circuit breaking (Envoy's max_requests, and its default): requests an isolate may have waiting on one origin's answer (sent, no status line yet) at once. Past it a request goes to the next origin, untried and with no retry spent, or, when none is left, ends stale or in a 503 (Cache-Status detail=overflow). Per isolate, as each Envoy counts its own: set it from the origin's capacity over the isolates that reach it.",
    ),
  })
  .strict();

export const ShieldSchema = z
  .object({
    enabled: z.boolean().default(false).describe("The default for sites that do not say: misses go to the shield of the chosen origin's region."),
    placement: z
      .enum(["key", "nearest-origin"])
      .default("nearest-origin")
      .describe(
        'Which region\'s shield takes a miss. "nearest-origin" (the default): each POP uses the shield of the region of the origin it would choose itself, so every miss still goes to its nearest healthy origin (regional tiers: about one origin request per object per origin region). "key": every POP sends a key to the same region (chosen by hashing the key over the regions of the site\'s usable origins): one origin request per object in all, for a site with one origin region or that wants the lowest origin load, at the cost of misses crossing to that region.',
      ),
    shardsPerRegion: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(4)
      .describe("Shards (Durable Objects) per region; a key always maps to the same one, so no one object carries a region's misses."),
    maxObjectBytes: z
      .number()
      .int()
      .min(0)
      .max(512 * 1024 * 1024)
      .default(32 * 1024 * 1024)
      .describe("Larger objects (by Content-Length, or as they stream) are fetched through the shield but not stored there."),
    storageBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(1024 * 1024 * 1024)
      .describe("Bytes of bodies one shard keeps in its storage; the entries stored longest ago go first."),
    memoryBytes: z
      .number()
      .int()
      .min(0)
      .default(32 * 1024 * 1024)
      .describe("Bytes of bodies one shard keeps in memory in front of its storage."),
    timeoutMs: z.number().int().min(50).max(120_000).default(10_000).describe("A POP waits this long for the shield's response headers before it goes to the origin itself."),
  })
  .strict();

export const ConfigSchema = z
  .object({
    origins: z.array(OriginSchema).min(1).describe("Where content comes from, and where each origin is."),
    sites: z.array(SiteSchema).min(1).describe("The hostnames Outpost serves, and the origins of each."),
    cache: CacheSchema.default(CacheSchema.parse({})).describe("What the tiers keep, how long, and how keys are made."),
    originFetch: OriginFetchSchema.default(OriginFetchSchema.parse({})).describe("Trips to the origins: their timeouts, retries and the one deadline they share."),
    compression: CompressionSchema.default(CompressionSchema.parse({})).describe("Edge compression: encoded variants stored once per object and coding."),
    monitor: MonitorSchema.default(MonitorSchema.parse({})).describe("Active health checks, run by the control plane."),
    outlierDetection: OutlierDetectionSchema.default(OutlierDetectionSchema.parse({})).describe("Passive health: what each POP learns from its own traffic."),
    loadBalancing: LoadBalancingSchema.default(LoadBalancingSchema.parse({})).describe("How misses spread over a site's origins."),
    shield: ShieldSchema.default(ShieldSchema.parse({})).describe("Tiered caching: a shield per origin region between POPs and origins."),
    debug: z
      .boolean()
      .default(false)
      .describe(
        "Adds key and detail to Cache-Status, keeps Cache-Tag and Surrogate-Key on answers, and names the origins tried in error bodies: for troubleshooting, as it shows clients what the CDN keys on.",
      ),
  })
  .strict()
  .superRefine((config, ctx) => {
    const originIds = new Set<string>();
    config.origins.forEach((o, i) => {
      if (originIds.has(o.id)) ctx.addIssue({ code: "custom", path: ["origins", i, "id"], message: `duplicate origin id "${o.id}"` });
      originIds.add(o.id);
    });
    const hostOwner = new Map<string, string>();
    config.sites.forEach((site, i) => {
      site.origins.forEach((id, j) => {
        if (!originIds.has(id)) ctx.addIssue({ code: "custom", path: ["sites", i, "origins", j], message: `unknown origin "${id}"` });
      });
      site.hosts.forEach((host, j) => {
        const owner = hostOwner.get(host);
        if (owner !== undefined) {
          ctx.addIssue({ code: "custom", path: ["sites", i, "hosts", j], message: `host "${host}" already belongs to site "${owner}"` });
        }
        hostOwner.set(host, site.id);
      });
    });
  });

export type OutpostConfig = z.output<typeof ConfigSchema>;
export type OutpostConfigInput = z.input<typeof ConfigSchema>;
export type OriginConfig = z.output<typeof OriginSchema>;
export type SiteConfig = z.output<typeof SiteSchema>;
export type CacheConfig = z.output<typeof CacheSchema>;
export type CacheKeyConfig = z.output<typeof CacheKeySchema>;
export type MonitorConfig = z.output<typeof MonitorSchema>;
export type CompressionConfig = z.output<typeof CompressionSchema>;
export type OutlierDetectionConfig = z.output<typeof OutlierDetectionSchema>;
export type LoadBalancingConfig = z.output<typeof LoadBalancingSchema>;
export type ShieldConfig = z.output<typeof ShieldSchema>;

/** Does this site send its misses through the shield? */
export function siteUsesShield(config: OutpostConfig, site: SiteConfig): boolean {
  return site.shield ?? config.shield.enabled;
}

/** The monitor for one origin: the global one with the origin's overrides. */
export function monitorFor(config: OutpostConfig, origin: OriginConfig): MonitorConfig {
  return { ...config.monitor, ...origin.monitor };
}

/** A configuration error that names every bad field, e.g. `sites[0].origins[1]: unknown origin "x"`. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    source = "configuration",
  ) {
    super(`invalid ${source}:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Parses and validates; throws ConfigError naming each bad field. */
export function parseConfig(input: unknown, source = "configuration"): OutpostConfig {
  let value = input;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (err) {
      throw new ConfigError([`(root): not valid JSON (${(err as Error).message})`], source);
    }
  }
  const result = ConfigSchema.safeParse(value);
  if (!result.success) throw new ConfigError(problemLines(result.error), source);
  return result.data;
}

const parsedConfigs = new Map<string, OutpostConfig>();

/** OUTPOST_CONFIG parsed once per text (an isolate sees one; a new deploy, a new text). */
export function configFromText(text: string): OutpostConfig {
  let config = parsedConfigs.get(text);
  if (!config) {
    config = parseConfig(text, "OUTPOST_CONFIG");
    parsedConfigs.clear();
    parsedConfigs.set(text, config);
  }
  return config;
}
