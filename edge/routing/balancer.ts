/**
 * Which origins a miss may try, in order: the site's origins with run-time
 * overrides, minus those the control plane reports down and those this POP
 * has ejected, steered by proximity (or the site's failover order). When too
 * few are healthy, all of them (the panic threshold): trying beats refusing.
 */
import type { LoadBalancingConfig, OriginConfig, SiteConfig } from "../../common/config";
import type { OriginHealthView } from "../../common/snapshot";
import type { GeoPoint } from "../../common/geo/geo";
import { rankOrigins, type RankedOrigin } from "./steering";

export interface CandidateInput {
  site: SiteConfig;
  /** The site's origins, overrides applied, in the site's order. */
  origins: OriginConfig[];
  location: GeoPoint | undefined;
  loadBalancing: LoadBalancingConfig;
  /** Health published by the control plane (active probes and POP reports). */
  health: Record<string, OriginHealthView>;
  /** Does this POP's outlier detection admit a request to the origin now? */
  admits: (originId: string) => boolean;
  random?: () => number;
}

export interface Candidates {
  ranked: RankedOrigin[];
  panic: boolean;
  healthy: number;
  eligible: number;
  /** Eligible origins this POP's own passive health refuses now (it saw them fail): fresh evidence, not a probe's word. */
  refusedHere: number;
}

export function candidatesFor(input: CandidateInput): Candidates {
  const eligible = input.origins.filter((o) => o.enabled && !o.draining && o.weight > 0);
  const healthy = eligible.filter((o) => input.admits(o.id) && input.health[o.id]?.healthy !== false);
  // Panic (Envoy's term): with too few healthy origins, trying them all beats refusing; a
  // single-origin site must never go dark because its one origin was ejected.
  const panic = eligible.length > 0 && (healthy.length === 0 || healthy.length / eligible.length < input.loadBalancing.panicThreshold);
  const pool = panic ? eligible : healthy;
  let ranked: RankedOrigin[];
  if (input.site.steering === "failover") {
    ranked = pool.map((origin) => ({ origin, distanceKm: 0 })); // already in the site's order
  } else {
    ranked = rankOrigins(pool, input.location, input.random);
  }
  const refusedHere = eligible.filter((o) => !input.admits(o.id)).length;
  return { ranked, panic, healthy: healthy.length, eligible: eligible.length, refusedHere };
}
