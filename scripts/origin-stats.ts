/**
 * What the reference origins of a local network have been asked, from their admin ports' /stats:
 * the one count that tests and benches read (health probes and other paths left out).
 */
import type { Topology } from "./network";

/** Which of an origin's counts: every request for a path, or those that asked for a Range. */
export type OriginCount = "byPath" | "rangesByPath";

/** Each origin's requests for one path, by origin id. */
export async function originRequestsByOrigin(topology: Topology, path: string, counted: OriginCount = "byPath"): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const origin of topology.origins) {
    const stats = (await (await fetch(`${origin.admin}/stats`)).json()) as Record<OriginCount, Record<string, number>>;
    out[origin.id] = stats[counted][path] ?? 0;
  }
  return out;
}

/** Every origin's requests for one path, together. */
export async function originRequests(topology: Topology, path: string, counted: OriginCount = "byPath"): Promise<number> {
  return Object.values(await originRequestsByOrigin(topology, path, counted)).reduce((sum, n) => sum + n, 0);
}

/** Sets every origin's counts back to zero. */
export async function resetOriginStats(topology: Topology): Promise<void> {
  for (const origin of topology.origins) await (await fetch(`${origin.admin}/stats/reset`, { method: "POST" })).arrayBuffer();
}
