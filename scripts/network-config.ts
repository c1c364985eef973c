/**
 * The local network's shape (outpost.config.json): which POPs run where,
 * which origins in which regions, which hosts the demo site answers for, and
 * optional cache / origin-fetch settings passed on to every POP.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { CacheSchema, ConfigError, LoadBalancingSchema, MaxRequestsSchema, MonitorSchema, OriginFetchSchema, OutlierDetectionSchema, ShieldSchema } from "../common/config";
import { problemLines } from "../common/zod-issues";

export const PopSpecSchema = z
  .object({
    colo: z.string().regex(/^[A-Z0-9]{3,4}$/, "must be an IATA-style code such as FRA"),
    city: z.string().optional(),
    country: z.string().length(2, "must be an ISO 3166 alpha-2 code"),
    continent: z.enum(["AF", "AN", "AS", "EU", "NA", "OC", "SA"]),
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
  })
  .strict();

export const OriginSpecSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, "must be 1-63 letters, digits, '.', '_' or '-'"),
    region: z.string().min(1),
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    weight: z.number().int().min(0).max(1000).default(100),
    maxRequests: MaxRequestsSchema.optional().describe("The origin's own request limit (circuit breaking); loadBalancing.maxRequestsPerOrigin when unset."),
  })
  .strict();

export const NetworkConfigSchema = z
  .object({
    $schema: z.string().optional().describe("The JSON Schema editors check this file against: ./outpost.config.schema.json (npm run build:config-docs makes it)."),
    basePort: z.number().int().min(0).max(65000).default(8700).describe("First port: control plane; POPs follow; origins after them. 0 picks free ports."),
    pops: z.array(PopSpecSchema).min(1).max(64),
    origins: z.array(OriginSpecSchema).min(1).max(32),
    hosts: z.array(z.string().min(1)).min(1).default(["localhost", "127.0.0.1"]),
    isolatesPerPop: z
      .number()
      .int()
      .min(1)
      .max(8)
      .default(2)
      .describe(
        "Isolates behind each POP name, as a Cloudflare colo runs several (one per server): each its own memory, purge position and figures, sharing the colo's Cache API. The front spreads requests over them in turn.",
      ),
    cache: CacheSchema.optional(),
    originFetch: OriginFetchSchema.optional(),
    monitor: MonitorSchema.optional(),
    outlierDetection: OutlierDetectionSchema.optional(),
    loadBalancing: LoadBalancingSchema.optional(),
    shield: ShieldSchema.optional().describe("Tiered caching: shields run in the control plane's Miniflare instance."),
    debug: z.boolean().default(false),
  })
  .strict()
  .superRefine((config, ctx) => {
    const colos = new Set<string>();
    config.pops.forEach((p, i) => {
      if (colos.has(p.colo)) ctx.addIssue({ code: "custom", path: ["pops", i, "colo"], message: `duplicate colo "${p.colo}"` });
      colos.add(p.colo);
    });
    const ids = new Set<string>();
    config.origins.forEach((o, i) => {
      if (ids.has(o.id)) ctx.addIssue({ code: "custom", path: ["origins", i, "id"], message: `duplicate origin id "${o.id}"` });
      ids.add(o.id);
    });
  });

export type NetworkConfig = z.output<typeof NetworkConfigSchema>;
export type NetworkConfigInput = z.input<typeof NetworkConfigSchema>;
export type PopSpec = z.output<typeof PopSpecSchema>;
export type OriginSpec = z.output<typeof OriginSpecSchema>;

export function parseNetworkConfig(input: unknown, source = "outpost.config.json"): NetworkConfig {
  const result = NetworkConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(problemLines(result.error), source);
  return result.data;
}

export function loadNetworkConfig(path: string): NetworkConfig {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError([`(file): cannot read ${path}: ${(err as Error).message}`], path);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError([`(root): not valid JSON: ${(err as Error).message}`], path);
  }
  return parseNetworkConfig(json, path);
}
