/**
 * The default shield placement, regional tiers: every POP's miss goes to the
 * shield of its own nearest healthy origin's region and on to that origin, so
 * each miss still reaches the nearest origin, and each origin sees about one
 * request per object it serves, however many POPs of its region ask.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greatCircleKm } from "../../common/geo/geo";
import type { Network } from "../../scripts/network";
import { startTestNetwork, unique } from "./helpers";

let network: Network;
beforeAll(async () => {
  network = await startTestNetwork({ snapshotRefreshMs: 100 });
});
afterAll(async () => {
  await network?.stop();
});

/** Each origin's requests for one path. */
async function requestsByOrigin(path: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const origin of network.topology.origins) {
    const stats = (await (await fetch(`${origin.admin}/stats`)).json()) as { byPath: Record<string, number> };
    counts[origin.id] = stats.byPath[path] ?? 0;
  }
  return counts;
}

function nearestOrigin(pop: { latitude: number; longitude: number }): string {
  const ranked = [...network.topology.origins].sort((a, b) => greatCircleKm(pop, a) - greatCircleKm(pop, b));
  return ranked[0].id;
}

let size = 11_000;

describe("regional tiers (shield.placement nearest-origin, the default)", () => {
  it("a fresh object asked at each POP is fetched from that POP's nearest origin, once per origin region", async () => {
    const bytes = size++;
    const path = unique(`/gen/${bytes}?ttl=60`);
    const expected: Record<string, number> = {};
    for (const pop of network.topology.pops) {
      const r = await fetch(`${pop.url}${path}`, { headers: { "accept-encoding": "identity" } });
      await r.arrayBuffer();
      expect(r.status).toBe(200);
      // The stored answer names the origin that filled it: this POP's nearest.
      expect(r.headers.get("x-origin-id")).toBe(nearestOrigin(pop));
      expected[nearestOrigin(pop)] = 1;
    }
    const counts = await requestsByOrigin(`/gen/${bytes}`);
    for (const origin of network.topology.origins) expect(counts[origin.id]).toBe(expected[origin.id] ?? 0);
  });

  it("100 concurrent cold requests at every POP at once cost each origin region one request", async () => {
    const bytes = size++;
    const path = unique(`/gen/${bytes}?ttl=60`);
    const answers = await Promise.all(network.topology.pops.flatMap((pop) => Array.from({ length: 100 }, async () => (await fetch(`${pop.url}${path}`)).status)));
    expect(answers.every((s) => s === 200)).toBe(true);
    const counts = await requestsByOrigin(`/gen/${bytes}`);
    const regions = new Set(network.topology.pops.map((p) => nearestOrigin(p)));
    for (const origin of network.topology.origins) expect(counts[origin.id]).toBe(regions.has(origin.id) ? 1 : 0);
  });
});
