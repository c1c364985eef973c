/**
 * Where a miss goes in the upper tier: the shield shard for the chosen
 * origin's region and the object's key. Pure.
 */
import type { OriginConfig } from "../config";
import { hash64 } from "../hash";
import { greatCircleKm, type GeoPoint } from "../geo/geo";
import { REGIONS } from "../geo/regions";

/**
 * The hints Cloudflare spawns Durable Objects for. It documents sam, afr and me too, but does not
 * spawn objects there yet (Durable Objects, "Data location": such hints land elsewhere, in eastern
 * North America), so those regions get the nearest honoured hint of their own choosing.
 */
export const HONOURED_LOCATION_HINTS = ["wnam", "enam", "weur", "eeur", "apac", "oc"] as const;
type HonouredHint = (typeof HONOURED_LOCATION_HINTS)[number];

const LOCATION_HINTS: Record<string, HonouredHint> = {
  "us-east": "enam",
  "us-central": "enam",
  "ca-central": "enam",
  "us-west": "wnam",
  // São Paulo: Ashburn is nearer than the West Coast.
  "sa-east": "enam",
  "eu-west": "weur",
  "eu-central": "weur",
  "eu-north": "eeur",
  // Dubai and Johannesburg: eastern and western Europe are nearer than North America.
  "me-central": "eeur",
  "af-south": "weur",
  "ap-south": "apac",
  "ap-southeast": "apac",
  "ap-northeast": "apac",
  "ap-east": "apac",
  "oc-southeast": "oc",
};

/** The named region nearest a point. */
export function nearestRegion(point: GeoPoint): string {
  let best = "us-east";
  let bestKm = Infinity;
  for (const [name, at] of Object.entries(REGIONS)) {
    const km = greatCircleKm(point, at);
    if (km < bestKm) {
      best = name;
      bestKm = km;
    }
  }
  return best;
}

/** An origin's shield region: its own named region, else the named region nearest it. */
export function shieldRegion(origin: OriginConfig): string {
  if (origin.region && origin.region in REGIONS) return origin.region;
  return nearestRegion(origin);
}

export function locationHint(region: string): DurableObjectLocationHint | undefined {
  return LOCATION_HINTS[region];
}

/**
 * The region whose shield owns a key when every POP must agree (placement
 * "key"): rendezvous hashing over the regions of the origins that may serve
 * it, so one object costs one origin request however many POPs ask, and an
 * origin region leaving (or coming back) moves only its own keys.
 */
export function regionForKey(primaryKey: string, regions: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const region of new Set(regions)) {
    const score = hash64(`${region}\n${primaryKey}`)[1];
    if (score > bestScore || (score === bestScore && best !== undefined && region < best)) {
      best = region;
      bestScore = score;
    }
  }
  return best;
}

/** The shard of a region that owns a key: a stable hash, so every POP picks the same one. */
export function shardFor(primaryKey: string, shards: number): number {
  return hash64(primaryKey)[0] % Math.max(1, shards);
}

export interface ShieldAddress {
  region: string;
  shard: number;
  /** As Cache-Status and /v1/pops name it. */
  name: string;
  /** The Durable Object name. */
  objectName: string;
}

export function shieldAddress(region: string, shard: number): ShieldAddress {
  return { region, shard, name: `Outpost-Shield-${region}-${shard}`, objectName: `${region}:${shard}` };
}

/** The shard a route names (region and shard number as they came), or what is wrong with the name. */
export function shardNamed(region: string, shard: string, shardsPerRegion: number): { address: ShieldAddress } | { problem: string } {
  const number = Number(shard);
  if (!(region in REGIONS)) return { problem: `no region "${region}"` };
  if (!/^\d+$/.test(shard) || number >= shardsPerRegion) return { problem: `shard must be 0 to ${shardsPerRegion - 1}` };
  return { address: shieldAddress(region, number) };
}

/** The location a shield steers from: its region's point (it runs there). */
export function regionPoint(region: string): GeoPoint {
  return REGIONS[region] ?? REGIONS["us-east"];
}
