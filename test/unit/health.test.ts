import { MemoryControlStorage } from "../../control/storage";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../common/config";
import { candidatesFor } from "../../edge/routing/balancer";
import { OutlierDetector, type OutlierEvent } from "../../edge/routing/outlier";
import { RetryBudget } from "../../edge/routing/retry-budget";
import { applyProbe, initialHealth, probeOrigin } from "../../control/health-monitor";
import { ControlState } from "../../control/state";

const config = parseConfig({
  origins: [
    { id: "us", url: "http://127.0.0.1:1", region: "us-east" },
    { id: "eu", url: "http://127.0.0.1:2", region: "eu-central" },
    { id: "ap", url: "http://127.0.0.1:3", latitude: 1.35, longitude: 103.82 },
  ],
  sites: [{ id: "s", hosts: ["h"], origins: ["us", "eu", "ap"] }],
  outlierDetection: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 5000 },
});
const frankfurt = { latitude: 50.03, longitude: 8.56 };

describe("config", () => {
  it("places an origin by its named region", () => {
    expect(config.origins[1]).toMatchObject({ latitude: 50.1109, longitude: 8.6821 });
  });
  it("names the field when neither coordinates nor a known region are given", () => {
    expect(() => parseConfig({ origins: [{ id: "x", url: "http://a", region: "mars" }], sites: [{ id: "s", hosts: ["h"], origins: ["x"] }] })).toThrow(/origins\[0\]\.region/);
  });
});

describe("outlier detection", () => {
  it("ejects after consecutive failures, for a time that doubles, with one half-open trial", () => {
    const events: OutlierEvent[] = [];
    const d = new OutlierDetector(config.outlierDetection, (e) => events.push(e));
    for (let i = 0; i < 2; i++) d.onFailure("eu", "connection failed", 0);
    expect(d.admits("eu", 0)).toBe(true);
    d.onFailure("eu", "connection failed", 0);
    expect(d.admits("eu", 10)).toBe(false);
    expect(events[0]).toMatchObject({ kind: "ejected", originId: "eu", until: 1000 });
    // Half-open: one trial after the ejection runs out.
    expect(d.admits("eu", 1000)).toBe(true);
    d.onSend("eu", 1000);
    expect(d.admits("eu", 1001)).toBe(false);
    d.onFailure("eu", "connection failed", 1002);
    expect(events[1]).toMatchObject({ kind: "ejected", until: 3002, ejections: 2 });
    d.onSend("eu", 3002);
    d.onSuccess("eu", 3003);
    expect(events[2]).toMatchObject({ kind: "restored", originId: "eu" });
    expect(d.admits("eu", 3004)).toBe(true);
  });

  it("a success resets the count", () => {
    const d = new OutlierDetector(config.outlierDetection);
    d.onFailure("us", "x", 0);
    d.onFailure("us", "x", 0);
    d.onSuccess("us", 0);
    d.onFailure("us", "x", 0);
    expect(d.isEjected("us", 1)).toBe(false);
  });
});

describe("retry budget", () => {
  it("allows the floor, then a share of requests", () => {
    const budget = new RetryBudget(0.2, 1); // floor: 10 per 10 s window
    for (let i = 0; i < 100; i++) budget.onRequest(0);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (budget.tryRetry(0)) allowed++;
    expect(allowed).toBe(20);
  });
});

describe("balancer", () => {
  const base = { site: config.sites[0], origins: config.origins, location: frankfurt, loadBalancing: config.loadBalancing };
  it("skips origins the control plane reports down", () => {
    const c = candidatesFor({ ...base, health: { eu: { healthy: false, since: 0 } }, admits: () => true });
    expect(c.ranked.map((r) => r.origin.id)).toEqual(["us", "ap"]);
    expect(c.panic).toBe(false);
  });
  it("spreads over all origins when none is healthy (panic)", () => {
    const down = { healthy: false, since: 0 };
    const c = candidatesFor({ ...base, health: { us: down, eu: down }, admits: (id) => id !== "ap" });
    expect(c.panic).toBe(true);
    expect(c.ranked.map((r) => r.origin.id)).toEqual(["eu", "us", "ap"]);
  });
  it("never leaves a site without origins because its POP ejected them", () => {
    const c = candidatesFor({ ...base, health: {}, admits: () => false });
    expect(c.panic).toBe(true);
    expect(c.ranked).toHaveLength(3);
  });
  it("panics below the configured healthy share", () => {
    const c = candidatesFor({
      ...base,
      loadBalancing: { ...config.loadBalancing, panicThreshold: 0.5 },
      health: { us: { healthy: false, since: 0 }, eu: { healthy: false, since: 0 } },
      admits: () => true,
    });
    expect(c.panic).toBe(true);
  });
  it("follows the failover order when the site asks for it", () => {
    const site = { ...config.sites[0], steering: "failover" as const };
    const c = candidatesFor({ ...base, site, health: {}, admits: () => true });
    expect(c.ranked.map((r) => r.origin.id)).toEqual(["us", "eu", "ap"]);
  });
});

describe("active health", () => {
  it("moves an origin down and up by the thresholds", () => {
    const monitor = { ...config.monitor, unhealthyThreshold: 2, healthyThreshold: 2 };
    let h = initialHealth(0);
    h = applyProbe("eu", h, { ok: false, detail: "refused", latencyMs: null }, monitor, 1).health;
    expect(h.healthy).toBe(true);
    const down = applyProbe("eu", h, { ok: false, detail: "refused", latencyMs: null }, monitor, 2);
    expect(down.health.healthy).toBe(false);
    expect(down.transition).toMatchObject({ from: "up", to: "down" });
    const once = applyProbe("eu", down.health, { ok: true, detail: "status 200", latencyMs: 3 }, monitor, 3);
    expect(once.health.healthy).toBe(false);
    expect(applyProbe("eu", once.health, { ok: true, detail: "status 200", latencyMs: 3 }, monitor, 4).transition).toMatchObject({ to: "up" });
  });

  it("publishes probe results and POP ejections in the snapshot, bumping the version", async () => {
    let now = 1000;
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      () => now,
      () => undefined,
    );
    const v1 = (await state.snapshot("Outpost-FRA", 0)).version;
    const refuseEu: typeof fetch = async (input) => {
      if (String(input).startsWith("http://127.0.0.1:2")) throw new Error("refused");
      return new Response("ok");
    };
    await state.runProbes(refuseEu);
    now += 10_000;
    await state.runProbes(refuseEu);
    const s2 = await state.snapshot("Outpost-FRA", v1);
    expect(s2.version).toBeGreaterThan(v1);
    expect(s2.health.eu.healthy).toBe(false);
    expect(s2.health.us.healthy).toBe(true);

    await state.report({ pop: "Outpost-SIN", events: [{ kind: "ejected", originId: "ap", at: now, until: now + 5000, reason: "3 failures" }] });
    expect((await state.snapshot(undefined, 0)).health.ap).toMatchObject({ healthy: false });
    now += 6000; // the ejection runs out
    expect((await state.snapshot(undefined, 0)).health.ap.healthy).toBe(true);
  });
});

describe("probes", () => {
  it("ask the origin itself, never a copy in the zone's cache (Request.cache no-store)", async () => {
    const config = parseConfig({ origins: [{ id: "o", url: "http://o.test", region: "us-east" }], sites: [{ id: "s", hosts: ["s.test"], origins: ["o"] }] });
    let init: RequestInit | undefined;
    const fetcher = (async (_url: string, given: RequestInit) => {
      init = given;
      return new Response("ok");
    }) as unknown as typeof fetch;
    const result = await probeOrigin("http://o.test", config.monitor, fetcher);
    expect(result.ok).toBe(true);
    expect((init as { cache?: string }).cache).toBe("no-store");
  });
});
