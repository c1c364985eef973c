/**
 * Origins failing under load, through the reference origins' fault switches:
 * the same scenarios `npm run chaos` reports, asserted.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNetworkConfig } from "../../scripts/network-config";
import { ROOT, startNetwork, type Network } from "../../scripts/network";
import { allOriginsDown, allOriginsStalling, brokenBodies, errorPageOrigin, flappingOrigin, killNearestOrigin, slowOrigin } from "../../scripts/chaos-scenarios";
import { slowOriginAtItsLimit } from "../../scripts/chaos-overflow";

const TIMEOUT_MS = 1000;
const DEADLINE_MS = 2 * TIMEOUT_MS;
let network: Network;

beforeAll(async () => {
  const config = loadNetworkConfig(join(ROOT, "outpost.config.json"));
  config.basePort = 0;
  // One budget per request of two timeouts: a fall-back or a collapsed wait never starts over.
  config.originFetch = { ...config.originFetch!, timeoutMs: TIMEOUT_MS, retries: 1, bodyIdleTimeoutMs: TIMEOUT_MS, deadlineMs: DEADLINE_MS };
  // These scenarios are about each POP's own view of its origins: POPs go to origins directly.
  config.shield = { ...config.shield!, enabled: false };
  network = await startNetwork({ config, buildDir: join(ROOT, ".outpost", "test-build"), snapshotRefreshMs: 250 });
});
afterAll(async () => {
  await network?.stop();
});

describe("chaos", () => {
  it("the nearest origin dies under load: no client-visible errors, misses move, every POP learns", async () => {
    const r = await killNearestOrigin(network.topology, "FRA", "eu-central", 4000);
    expect(r.requests).toBeGreaterThan(50);
    expect(r.cachedErrors).toBe(0);
    expect(r.missErrors).toBe(0);
    expect(Object.keys(r.missesAfterKillServedBy)).toEqual(["us-east"]);
    // Ejected by its own POP within one probe interval (2 s) of the kill.
    expect(r.ejectedByPopMs).not.toBeNull();
    expect(r.ejectedByPopMs!).toBeLessThan(2000);
    expect(r.otherPopLearnedMs).not.toBeNull();
    expect(r.downByProbesMs).not.toBeNull();
    expect(r.recoveredMs).not.toBeNull();
  }, 120_000);

  it("every origin down: cached content is still served, uncached gets a quick 5xx, then recovery", async () => {
    const r = await allOriginsDown(network.topology, "IAD");
    expect(r.cachedServed).toBe(r.cachedRequests);
    for (const status of r.uncachedStatus) expect([502, 503, 504]).toContain(status);
    // Once the POP knows every origin is down, the site is unavailable: 503.
    expect(r.uncachedStatus[r.uncachedStatus.length - 1]).toBe(503);
    expect(r.uncachedMaxMs).toBeLessThan(5000);
    expect(r.recoveredMs).not.toBeNull();
  }, 120_000);

  it("a slow origin never holds a client much past the timeout", async () => {
    const r = await slowOrigin(network.topology, TIMEOUT_MS, "SIN", "ap-southeast", 3000);
    expect(r.misses).toBeGreaterThan(10);
    expect(r.missErrors).toBe(0);
    expect(r.maxMs).toBeLessThan(TIMEOUT_MS * 2 + 1000);
    expect(r.servedBy["ap-southeast"]).toBeUndefined();
  }, 120_000);

  it("an origin slow within its timeout, at its request limit: the rest go on to the next origin at once", async () => {
    const r = await slowOriginAtItsLimit(network.topology, { colo: "FRA", originId: "eu-central", delayMs: 800, maxRequests: 1, loadMs: 3000 });
    expect(r.misses).toBeGreaterThan(10);
    expect(r.missErrors).toBe(0);
    // Each isolate kept one miss at a time waiting on eu-central; the others went on to us-east.
    expect(r.servedBy["eu-central"]).toBeGreaterThan(0);
    expect(r.servedBy["us-east"]).toBeGreaterThan(r.servedBy["eu-central"]);
    expect(r.p50Ms).toBeLessThan(800);
  }, 120_000);

  for (const mode of ["stall", "truncate"] as const) {
    it(`an origin whose bodies ${mode === "stall" ? "stall" : "break off"} under load: misses retried elsewhere, the origin ejected, no client-visible errors`, async () => {
      const r = await brokenBodies(network.topology, mode, TIMEOUT_MS, "FRA", "eu-central", 3000);
      expect(r.misses).toBeGreaterThan(10);
      expect(r.cachedErrors).toBe(0);
      expect(r.missErrors).toBe(0);
      // Every miss was answered whole by another origin. (Ejection is reported, not required: the
      // broken origin still answers 304s whole, and each success resets its run of failures.)
      expect(r.servedBy["eu-central"]).toBeUndefined();
      // Never the unbounded wait of a stalled body: one idle timeout, then the retry's answer.
      expect(r.maxMs).toBeLessThan(TIMEOUT_MS * 3 + 1000);
    }, 120_000);
  }

  it("an origin answering every request with a whole 503 page is ejected after the configured run", async () => {
    const failures = network.outpostConfig.outlierDetection!.consecutiveFailures!;
    const r = await errorPageOrigin(network.topology, failures, "FRA", "eu-central");
    // Each isolate counts its own run (as each Envoy does); the front takes FRA's isolates in turn.
    const isolates = network.topology.pops.find((p) => p.colo === "FRA")!.isolates;
    expect(r.missesUntilEjected).toBeGreaterThanOrEqual(failures);
    expect(r.missesUntilEjected).toBeLessThanOrEqual(failures * isolates);
    expect(r.nextMissServedBy).toBe("us-east");
  }, 120_000);

  it("every origin stalls: 20 concurrent cold requests all answered within the idle timeout + 2 s", async () => {
    const r = await allOriginsStalling(network.topology, { bodyIdleTimeoutMs: TIMEOUT_MS, deadlineMs: DEADLINE_MS }, "GRU");
    expect(r.unanswered).toBe(0);
    for (const status of Object.keys(r.statuses)) expect(["502", "503", "504"]).toContain(status);
    expect(r.maxMs).toBeLessThan(TIMEOUT_MS + 2000);
  }, 120_000);

  it("a flapping origin moves no faster than the health thresholds allow", async () => {
    const r = await flappingOrigin(network.topology, 3000, 9000, "FRA", "eu-central");
    // Probes every 2 s with thresholds of 2: two transitions are at least ~4 s apart.
    if (r.minMsBetweenTransitions !== null) expect(r.minMsBetweenTransitions).toBeGreaterThanOrEqual(3000);
    expect(r.missErrors).toBe(0);
  }, 120_000);
});
