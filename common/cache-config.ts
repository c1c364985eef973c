/**
 * The cache's part of the configuration: how keys are built, how Vary is
 * normalised, what the tiers hold and for how long, and what is compressed.
 * Declared apart from config.ts (which composes and re-exports them).
 */
import { z } from "zod";

export const CacheKeySchema = z
  .object({
    sortQuery: z.boolean().default(false).describe("Sort query parameters so that ?a=1&b=2 and ?b=2&a=1 share an entry."),
    ignoreQueryParams: z.array(z.string().min(1)).default(["utm_*", "fbclid", "gclid"]).describe("Query parameters left out of the key; a trailing * matches a prefix (utm_*)."),
  })
  .strict();

export const VarySchema = z
  .object({
    languages: z
      .array(z.string().regex(/^[a-z]{1,8}(-[a-z0-9]{1,8})*$/i, "must be a language tag such as en or pt-BR"))
      .max(64)
      .default([])
      .describe(
        'Languages the sites offer, e.g. ["en", "de", "fr"]: a response that varies on Accept-Language is then stored once per language, not once per distinct header a browser sends.',
      ),
  })
  .strict();

export const CacheSchema = z
  .object({
    memoryBytes: z
      .number()
      .int()
      .min(0)
      .default(32 * 1024 * 1024)
      .describe(
        "Bytes the in-isolate tier may hold (bodies, keys, fields, overhead). A Cloudflare isolate has 128 MB for everything: the runtime, purge rules, requests in flight (each bounded). A quarter of it leaves the rest that headroom; the Cache API behind holds the bulk.",
      ),
    memoryEntryMaxBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 * 1024)
      .describe("Largest body kept in the in-isolate tier; larger ones live in the Cache API only."),
    maxObjectBytes: z
      .number()
      .int()
      .min(0)
      .default(512 * 1024 * 1024)
      .describe("Largest body stored at all; larger ones stream through uncached."),
    lookupTimeoutMs: z
      .number()
      .int()
      .min(10)
      .max(60_000)
      .default(2000)
      .describe(
        "Longest a request waits for the tier behind memory (the Cache API, a shard's store) to answer: a lookup, after which the request counts as a miss and goes forward, and the delete an unsafe method's invalidation makes, after which its answer goes out (the delete goes on behind it). Each chunk of a stored body too large for memory, as it streams to the client, gets it too: past it the client's connection is cut. A store that does not answer must never be the client's wait.",
      ),
    storeIdleTimeoutMs: z
      .number()
      .int()
      .min(10)
      .max(600_000)
      .default(5000)
      .describe(
        "Longest a store writing a body as it streams (too large for memory) may leave the client waiting for the next chunk: then that copy is given up and the client goes on alone. A colo cache that stops reading must not stop the answer it was storing.",
      ),
    streamAfterMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .optional()
      .describe(
        "A streamed miss answers once its first 16 KiB have come (or all of it), so that a body that stalls or breaks off before then is retried at another origin, or ends in a clean 5xx: the client never sees the failure. Set, the answer starts at most this long after the first bytes, however few, so a page that flushes its head and then works on its body (streamed HTML) gets the head to the browser at once; a body that fails after it cuts the client's connection. A response with X-Accel-Buffering: no (nginx's field) starts at its first bytes.",
      ),
    staleRetentionSeconds: z
      .number()
      .int()
      .min(0)
      .default(86400)
      .describe("How long an entry stays in the Cache API past its freshness, so it can be revalidated or served stale."),
    maxRetentionSeconds: z
      .number()
      .int()
      .min(60)
      .max(31_536_000)
      .default(7 * 86400)
      .describe("No entry is kept longer than this, however long its freshness: it bounds how long purge rules must be remembered. Longer-lived objects are fetched again."),
    staleIfErrorSeconds: z
      .number()
      .int()
      .min(0)
      .default(86400)
      .describe(
        "How long past freshness a stored response may stand in for an origin that fails (RFC 5861 stale-if-error), when the response names no window itself. Never for must-revalidate / no-cache responses.",
      ),
    key: CacheKeySchema.default(CacheKeySchema.parse({})).describe("How a request's URL becomes its cache key: what is left out of the key never reaches the origin."),
    vary: VarySchema.default(VarySchema.parse({})).describe("How request fields an answer varies on are normalised before they key it."),
  })
  .strict();

export const CompressionSchema = z
  .object({
    enabled: z.boolean().default(true).describe("Off, bodies are stored and sent in the coding the origin gave."),
    encodings: z
      .array(z.enum(["br", "zstd", "gzip"]))
      .min(1)
      .default(["br", "zstd", "gzip"])
      .describe("Codings produced, in order of preference when the client accepts several equally."),
    types: z
      .array(z.string().min(3))
      .default([
        "text/*",
        "application/json",
        "application/javascript",
        "application/x-javascript",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/manifest+json",
        "application/ld+json",
        "application/wasm",
        "image/svg+xml",
        "font/ttf",
        "font/otf",
      ])
      .describe('Content types worth compressing; "text/*" matches a family.'),
    minBytes: z.number().int().min(0).default(1024).describe("Smaller bodies gain too little to pay for the work."),
    maxBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 * 1024)
      .describe("Bodies up to this size are compressed within the request that first asks for a coding."),
    backgroundMaxBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024)
      .describe(
        "Larger ones, up to this size, are compressed after it, in the background (streamed through the encoder, so memory holds the encoded bytes, not the body); meanwhile clients get identity.",
      ),
    brotliQuality: z
      .number()
      .int()
      .min(0)
      .max(11)
      .default(6)
      .describe("Quality of br variants made within a request; those made in the background use at least 10 (9 past 4 MiB)."),
    gzipLevel: z.number().int().min(1).max(9).default(6).describe("Level of gzip variants made within a request; those made in the background use 9."),
    zstdLevel: z.number().int().min(1).max(19).default(6).describe("Level of zstd variants made within a request; those made in the background use 19."),
  })
  .strict();
