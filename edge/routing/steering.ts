/**
 * Steering: the order in which a miss tries origins. Proximity first; origins
 * at a similar distance form one tier, inside which weights share the load;
 * an origin that is disabled, draining, or has weight 0 is never chosen.
 * Pure: randomness is a parameter so tests can pin it.
 */
import type { OriginConfig } from "../../common/config";
import { greatCircleKm, type GeoPoint } from "../../common/geo/geo";

/** Origins within this much of the nearest one's distance count as equally near. */
export const SIMILAR_DISTANCE_KM = 500;
export const SIMILAR_DISTANCE_FRACTION = 0.1;

export interface RankedOrigin {
  origin: OriginConfig;
  distanceKm: number;
}

function weightedShuffle(tier: RankedOrigin[], random: () => number): RankedOrigin[] {
  const pool = [...tier];
  const out: RankedOrigin[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, r) => sum + r.origin.weight, 0);
    let pick = random() * total;
    let index = 0;
    for (; index < pool.length - 1; index++) {
      pick -= pool[index].origin.weight;
      if (pick < 0) break;
    }
    out.push(pool.splice(index, 1)[0]);
  }
  return out;
}

/**
 * Orders eligible origins for one request: nearest tier first (weighted
 * order within it), then the next tier, and so on. Without a location every
 * origin is one tier.
 */
export function rankOrigins(origins: readonly OriginConfig[], location: GeoPoint | undefined, random: () => number = Math.random): RankedOrigin[] {
  const eligible = origins
    .filter((o) => o.enabled && !o.draining && o.weight > 0)
    .map((origin) => ({ origin, distanceKm: location ? greatCircleKm(location, origin) : 0 }))
    .sort((a, b) => a.distanceKm - b.distanceKm);
  const ranked: RankedOrigin[] = [];
  let i = 0;
  while (i < eligible.length) {
    const nearest = eligible[i].distanceKm;
    const limit = nearest + Math.max(SIMILAR_DISTANCE_KM, nearest * SIMILAR_DISTANCE_FRACTION);
    let j = i;
    while (j < eligible.length && eligible[j].distanceKm <= limit) j++;
    ranked.push(...weightedShuffle(eligible.slice(i, j), random));
    i = j;
  }
  return ranked;
}
