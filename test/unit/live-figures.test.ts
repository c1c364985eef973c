import { describe, expect, it } from "vitest";
import { parseConfig } from "../../common/config";
import { ControlState } from "../../control/state";
import { MemoryControlStorage } from "../../control/storage";
import { PopSeries } from "../../common/metrics/series";

const config = parseConfig({
  origins: [
    { id: "us", url: "http://127.0.0.1:1", region: "us-east" },
    { id: "eu", url: "http://127.0.0.1:2", region: "eu-central" },
  ],
  sites: [{ id: "s", hosts: ["h"], origins: ["us", "eu"] }],
});

function stateAt(clock: { now: number }) {
  return new ControlState(
    new MemoryControlStorage(),
    () => config,
    () => clock.now,
    () => undefined,
  );
}

describe("the control plane's figures of each POP", () => {
  it("keeps only declared counters and series whose labels are in their domains", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    const series = new PopSeries();
    series.observe("ttfb", ["hit"], 0.001);
    series.observe("originResponse", ["eu"], 0.02);
    series.observe("originResponse", ["shield:eu-central:0"], 0.01);
    const report = {
      ...series.report(),
      "originResponse|https://attacker.example/": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      "ttfb|/a/url/as/a/label": [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    };
    await state.sync({
      pop: "Outpost-FRA",
      have: 0,
      purgeSeq: 0,
      counters: { requests: 3, hits: 2, bogus: 7 },
      series: report,
      origins: { eu: { requests: 1, errors: 0 }, "10.0.0.1": { requests: 1, errors: 0 } },
    });
    const [pop] = await state.pops();
    expect(Object.keys(pop.series ?? {}).sort()).toEqual(["originResponse|eu", "originResponse|shield:eu-central:0", "ttfb|hit"]);
    expect(pop.counters).toEqual({ requests: 3, hits: 2 });
    expect(Object.keys(pop.origins)).toEqual(["eu"]);
  });

  it("takes figures as of a held sync's arrival: its answer never puts older counters over newer ones", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0, counters: { requests: 1 } });
    const version = (await state.snapshot(undefined, 0)).version;
    const held = state.sync({ pop: "Outpost-FRA", have: version, purgeSeq: 0, counters: { requests: 10 } }, 5000);
    clock.now += 2000;
    await state.report({ pop: "Outpost-FRA", events: [], metrics: { counters: { requests: 50 } } });
    await state.purge([{ kind: "everything" }], false, "p1");
    await held;
    const [pop] = await state.pops();
    expect(pop.counters.requests).toBe(50);
    // The figure report counts as load of its own, and a sync after it does not forget it.
    expect(pop.reports).toBe(1);
    expect(pop.syncs).toBe(2);
  });

  it("shows rates over the window, where each purge has reached, and the POPs' ejections", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0, counters: { requests: 0, hits: 0, misses: 0 }, location: { latitude: 50, longitude: 8.5, city: "Frankfurt" } });
    await state.sync({ pop: "Outpost-IAD", have: 0, purgeSeq: 0, counters: { requests: 0 } });
    clock.now += 1;
    const rule = await state.purge([{ kind: "url", value: "https://h/a" }], false, "p1");
    clock.now += 10_000;
    await state.report({
      pop: "Outpost-FRA",
      events: [{ kind: "ejected", originId: "eu", at: clock.now, until: clock.now + 5000, reason: "5 failures" }],
      metrics: {
        counters: { requests: 100, hits: 90, misses: 10 },
        origins: { eu: { requests: 10, errors: 5, ejected: true, ejections: 1 } },
      },
    });
    await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0 });
    const view = await state.dashboard();
    const fra = view.pops.find((p) => p.name === "Outpost-FRA")!;
    expect(fra.city).toBe("Frankfurt");
    expect(fra.window?.requestsPerSecond).toBeCloseTo(10, 2);
    expect(fra.window?.hitRatio).toBeCloseTo(0.9);
    expect(view.origins.find((o) => o.id === "eu")?.ejectedBy).toEqual(["Outpost-FRA"]);
    expect(view.events[0]).toMatchObject({ kind: "ejected", origin: "eu", pop: "Outpost-FRA" });
    const purge = view.purges[0];
    expect(purge.id).toBe(rule.id);
    // FRA has it (10 s after acceptance); IAD has not synced since: idle, it applies it before its next answer.
    expect(purge.pops).toEqual([
      { name: "Outpost-FRA", ms: 10_000, idle: false },
      { name: "Outpost-IAD", ms: null, idle: true },
    ]);
    expect(purge.reachedAllMs).toBe(10_000);
    const metrics = await state.metrics();
    expect(metrics.purgePropagation["Outpost-FRA"].slice(0, 14).reduce((a, b) => a + b, 0)).toBe(1);
  });
});
