/**
 * Ranges of objects too large to store (past cache.maxObjectBytes at the POP
 * and shield.maxObjectBytes at the shield): each is asked of the origin alone,
 * as Varnish's hit-for-pass and Cloudflare's pass-through do, never read
 * through whole to be sliced. A player seeking in a long video moves its
 * ranges, not the video.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { originRequests, startTestNetwork, unique } from "./helpers";

/** Past the shield's 32 MiB and the POP's limit below: stored nowhere. */
const SIZE = 40_000_000;
const PATH = `/gen/${SIZE}`;

let network: Network;
beforeAll(async () => {
  network = await startTestNetwork({ configOverrides: { cache: { maxObjectBytes: 8 * 1024 * 1024 } } });
}, 120_000);
afterAll(async () => {
  await network?.stop();
});

/** The origins' requests for the object: all of them, and those that asked for a range. */
async function originStats(): Promise<{ all: number; ranges: number }> {
  return { all: await originRequests(network.topology, PATH), ranges: await originRequests(network.topology, PATH, "rangesByPath") };
}

describe("ranges of an object too large to store", () => {
  it("are asked of the origin alone: a whole fetch per isolate at most, then the ranges themselves", async () => {
    const fra = network.topology.pops[1].url;
    const origin = network.topology.origins.find((o) => o.id === "eu-central")!;
    const path = unique(`${PATH}?ttl=600`);
    const whole = new Uint8Array(await (await fetch(`${origin.url}${path}`, { headers: { "accept-encoding": "identity" } })).arrayBuffer());
    const before = await originStats();
    for (const [start, end] of [
      [SIZE - 100, SIZE - 1],
      [20_000_000, 20_000_999],
      [30_000_000, 30_000_049],
    ]) {
      const partial = await fetch(`${fra}${path}`, { headers: { range: `bytes=${start}-${end}`, "accept-encoding": "identity" } });
      expect(partial.status).toBe(206);
      expect(partial.headers.get("content-range")).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(partial.headers.get("cache-status")).not.toContain("stored");
      expect(new Uint8Array(await partial.arrayBuffer())).toEqual(whole.subarray(start, end + 1));
    }
    const after = await originStats();
    // Every range went to the origin as a range. Besides them, each of FRA's isolates asked for the
    // whole object once, the first time it met it, and let it go past its head (per isolate, as
    // Varnish's hit-for-pass is per cache).
    expect(after.ranges - before.ranges).toBe(3);
    expect(after.all - before.all - 3).toBeGreaterThanOrEqual(1);
    expect(after.all - before.all - 3).toBeLessThanOrEqual(network.topology.pops[1].isolates);
  });

  it("still answer a plain GET whole, and a range near its start sliced from it", async () => {
    const fra = network.topology.pops[1].url;
    const path = unique(`${PATH}?ttl=600`);
    const plain = await fetch(`${fra}${path}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.status).toBe(200);
    expect((await plain.arrayBuffer()).byteLength).toBe(SIZE);
    const start = await fetch(`${fra}${path}`, { headers: { range: "bytes=0-99", "accept-encoding": "identity" } });
    expect(start.status).toBe(206);
    expect((await start.arrayBuffer()).byteLength).toBe(100);
  });
});
