/**
 * Cloudflare's API as Outpost answers it, so that tooling written against
 * Cloudflare (its SDKs, CI steps, curl from its docs) works by changing the
 * base URL and the token: each configured site is a zone, with a stable id,
 * and answers use Cloudflare's envelope and error shape. Pure.
 * https://developers.cloudflare.com/api/
 */
import { z } from "zod";
import type { OutpostConfig, SiteConfig } from "../common/config";
import { hash64 } from "../common/hash";

/** The base path Cloudflare clients are pointed at: https://<control host>/client/v4. */
export const CLOUDFLARE_BASE_PATH = "/client/v4";

/** Cloudflare's error codes for what Outpost can refuse; clients branch on the HTTP status, people read these. */
export const CLOUDFLARE_ERROR_CODES = {
  400: 1012,
  401: 10000,
  403: 10000,
  404: 7003,
  413: 1013,
  415: 6003,
  429: 971,
  500: 1000,
} as const;
export type CloudflareErrorStatus = keyof typeof CLOUDFLARE_ERROR_CODES;

export const CloudflareMessageSchema = z.object({ code: z.number().int(), message: z.string() });

/** Cloudflare's envelope around a result. */
export function envelopeSchema<T extends z.ZodType>(result: T) {
  return z.object({
    success: z.boolean(),
    errors: z.array(CloudflareMessageSchema),
    messages: z.array(CloudflareMessageSchema),
    result,
  });
}

export const CloudflareErrorSchema = envelopeSchema(z.null());

export function cloudflareError(status: CloudflareErrorStatus, message: string): z.infer<typeof CloudflareErrorSchema> {
  return { success: false, errors: [{ code: CLOUDFLARE_ERROR_CODES[status], message }], messages: [], result: null };
}

export const ZoneSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{32}$/),
  name: z.string(),
  status: z.literal("active"),
  paused: z.boolean(),
  type: z.literal("full"),
  /** Every host of the site (the zone's name is the first). */
  hosts: z.array(z.string()),
  name_servers: z.array(z.string()),
  original_name_servers: z.null(),
  created_on: z.string(),
  modified_on: z.string(),
  permissions: z.array(z.string()),
});
export type Zone = z.infer<typeof ZoneSchema>;

export const ResultInfoSchema = z.object({
  page: z.number().int(),
  per_page: z.number().int(),
  count: z.number().int(),
  total_count: z.number().int(),
  total_pages: z.number().int(),
});

export const ZoneListSchema = envelopeSchema(z.array(ZoneSchema)).extend({ result_info: ResultInfoSchema });
export const ZoneResultSchema = envelopeSchema(ZoneSchema);
export const PurgeResultSchema = envelopeSchema(z.object({ id: z.string() }));

/** GET /zones query, as Cloudflare takes it (unknown parameters are ignored, as Cloudflare does). */
export const ZoneListQuerySchema = z.object({
  name: z.string().max(253).optional(),
  status: z.string().optional(),
  page: z.coerce.number().int().min(1).default(1),
  per_page: z.coerce.number().int().min(5).max(50).default(20),
  order: z.enum(["name", "status"]).optional(),
  direction: z.enum(["asc", "desc"]).optional(),
});
export type ZoneListQuery = z.infer<typeof ZoneListQuerySchema>;

/** A site's zone id: 32 hex digits, the same for the same site id wherever and whenever it is computed. */
export function zoneId(site: SiteConfig): string {
  const [a, b] = hash64(`outpost-zone:${site.id}`);
  const [c, d] = hash64(`outpost-zone:${site.id}:2`);
  return [a, b, c, d].map((n) => (n >>> 0).toString(16).padStart(8, "0")).join("");
}

const EPOCH = new Date(0).toISOString();

export function zoneOf(site: SiteConfig): Zone {
  return {
    id: zoneId(site),
    name: site.hosts[0],
    status: "active",
    paused: false,
    type: "full",
    hosts: site.hosts,
    name_servers: [],
    original_name_servers: null,
    created_on: EPOCH,
    modified_on: EPOCH,
    permissions: ["#cache_purge:edit", "#zone:read"],
  };
}

export function findZone(config: OutpostConfig, id: string): SiteConfig | undefined {
  return config.sites.find((s) => zoneId(s) === id.toLowerCase());
}

/** GET /zones: filtered by name (exact, as Cloudflare matches it), then paged. */
export function listZones(config: OutpostConfig, query: ZoneListQuery): z.infer<typeof ZoneListSchema> {
  let zones = config.sites.map(zoneOf);
  if (query.name !== undefined) zones = zones.filter((z) => z.name === query.name!.toLowerCase() || z.hosts.includes(query.name!.toLowerCase()));
  if (query.status !== undefined) zones = zones.filter((z) => z.status === query.status);
  if (query.order === "name") zones.sort((a, b) => a.name.localeCompare(b.name) * (query.direction === "desc" ? -1 : 1));
  const start = (query.page - 1) * query.per_page;
  const page = zones.slice(start, start + query.per_page);
  return {
    success: true,
    errors: [],
    messages: [],
    result: page,
    result_info: { page: query.page, per_page: query.per_page, count: page.length, total_count: zones.length, total_pages: Math.max(1, Math.ceil(zones.length / query.per_page)) },
  };
}
