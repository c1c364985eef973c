import { describe, expect, it } from "vitest";
import { parseConfig } from "../../common/config";
import { ControlState } from "../../control/state";
import { MemoryControlStorage } from "../../control/storage";
import { renderMetrics } from "../../control/metrics";
import { INVALIDATION_WAIT_MS, ISOLATE_GONE_MS } from "../../common/wire";

const config = parseConfig({
  origins: [{ id: "eu", url: "http://127.0.0.1:2", region: "eu-central" }],
  sites: [{ id: "s", hosts: ["h"], origins: ["eu"] }],
});

function stateAt(clock: { now: number }, storage = new MemoryControlStorage()) {
  return new ControlState(
    storage,
    () => config,
    () => clock.now,
    () => undefined,
  );
}

/** outpost_requests_total for one POP, as Prometheus would scrape it. */
async function scrapedRequests(state: ControlState, pop: string): Promise<number> {
  const text = renderMetrics(await state.metrics());
  const line = text.split("\n").find((l) => l.startsWith(`outpost_requests_total{pop="${pop}"}`));
  return Number(line?.split(" ").at(-1));
}

describe("a POP of many isolates (a colo runs one per server)", () => {
  it("shows one POP whose counters are its isolates' sum, and never go backwards as they take turns", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    const scraped: number[] = [];
    // Two isolates behind one POP name report in turn, each its own cumulative count.
    for (const [isolate, requests] of [
      ["a1", 10],
      ["b2", 5],
      ["a1", 12],
      ["b2", 7],
      ["a1", 30],
    ] as const) {
      clock.now += 1000;
      await state.sync({ pop: "Outpost-FRA", isolate, have: 0, purgeSeq: 0, counters: { requests } });
      scraped.push(await scrapedRequests(state, "Outpost-FRA"));
    }
    expect(scraped).toEqual([10, 15, 17, 19, 37]);
    const pops = await state.pops();
    expect(pops.map((p) => [p.name, p.isolates])).toEqual([["Outpost-FRA", 2]]);
    // The dashboard's rate comes from the sum too: no isolate "started over" in its timeline.
    const [pop] = (await state.dashboard()).pops;
    expect(pop.totals.requests).toBe(37);
    expect(pop.rates.every((r) => r.requestsPerSecond >= 0)).toBe(true);
  });

  it("keeps a gone isolate's figures in its POP's total, across a restart of the control plane", async () => {
    const clock = { now: 1_000_000 };
    const storage = new MemoryControlStorage();
    const state = stateAt(clock, storage);
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0, counters: { requests: 100 } });
    await state.sync({ pop: "Outpost-FRA", isolate: "b2", have: 0, purgeSeq: 0, counters: { requests: 50 } });
    clock.now += ISOLATE_GONE_MS + 60_000;
    // Both fell silent; b2 comes back under a new id counting from zero (as a POP does after
    // ISOLATE_RENEW_MS of silence), beside a new isolate.
    await state.sync({ pop: "Outpost-FRA", isolate: "b9", have: 0, purgeSeq: 0, counters: { requests: 10 } });
    await state.sync({ pop: "Outpost-FRA", isolate: "c3", have: 0, purgeSeq: 0, counters: { requests: 1 } });
    await state.sync({ pop: "Outpost-FRA", isolate: "b9", have: 0, purgeSeq: 0, counters: { requests: 11 } });
    expect(await scrapedRequests(state, "Outpost-FRA")).toBe(162);
    expect((await state.pops())[0].isolates).toBe(2);
    const restarted = stateAt(clock, storage);
    expect(await scrapedRequests(restarted, "Outpost-FRA")).toBeGreaterThanOrEqual(161);
  });

  it("says a purge reached a POP only when it reached every isolate of it", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0 });
    await state.sync({ pop: "Outpost-FRA", isolate: "b2", have: 0, purgeSeq: 0 });
    clock.now += 10;
    const rule = await state.purge([{ kind: "url", value: "https://h/a" }], false, "p1");
    clock.now += 10;
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0 });
    let [fra] = (await state.purgeStatus(rule.id))?.pops ?? [];
    expect(fra).toMatchObject({ name: "Outpost-FRA", applied: false, idle: true, isolates: 2, isolatesApplied: 1 });
    expect((await state.dashboard()).purges[0].pops).toEqual([{ name: "Outpost-FRA", ms: null, idle: true }]);
    clock.now += 5;
    await state.sync({ pop: "Outpost-FRA", isolate: "b2", have: 0, purgeSeq: 0 });
    [fra] = (await state.purgeStatus(rule.id))?.pops ?? [];
    expect(fra).toMatchObject({ applied: true, isolatesApplied: 2 });
    expect((await state.dashboard()).purges[0].pops).toEqual([{ name: "Outpost-FRA", ms: 15, idle: false }]);
    expect((await state.pops())[0].purgeSeqApplied).toBe(0); // reported next sync; delivered now
  });

  it("counts for a purge only the isolates known when it was accepted, after a restart too", async () => {
    const clock = { now: 1_000_000 };
    const storage = new MemoryControlStorage();
    let state = stateAt(clock, storage);
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0 });
    clock.now += 10;
    await state.purge([{ kind: "url", value: "https://h/a" }], false, "p1");
    clock.now += 10;
    // New since the purge: a second isolate of FRA, and a POP; the purge need not reach them (their first sync brings it).
    await state.sync({ pop: "Outpost-FRA", isolate: "b2", have: 0, purgeSeq: 0 });
    await state.sync({ pop: "Outpost-SIN", isolate: "c3", have: 0, purgeSeq: 0 });
    expect((await state.dashboard()).purges[0].pops).toEqual([{ name: "Outpost-FRA", ms: null, idle: true }]);
    clock.now += 5;
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0 });
    expect((await state.dashboard()).purges[0].pops).toEqual([{ name: "Outpost-FRA", ms: 15, idle: false }]);
    // When each isolate was first heard of is kept in its row: a restarted plane still tells new from known.
    state = stateAt(clock, storage);
    await state.purge([{ kind: "url", value: "https://h/b" }], false, "p2");
    expect((await state.dashboard()).purges[0].pops.map((p) => p.name).sort()).toEqual(["Outpost-FRA", "Outpost-SIN"]);
  });

  it("lets only the isolate that ejected an origin restore it", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    const until = clock.now + 60_000;
    await state.report({ pop: "Outpost-FRA", isolate: "a1", events: [{ kind: "ejected", originId: "eu", at: clock.now, until, reason: "3 failures" }] });
    await state.report({ pop: "Outpost-FRA", isolate: "b2", events: [{ kind: "restored", originId: "eu", at: clock.now }] });
    expect((await state.health()).origins.eu.healthy).toBe(false);
    await state.report({ pop: "Outpost-FRA", isolate: "a1", events: [{ kind: "restored", originId: "eu", at: clock.now }] });
    expect((await state.health()).origins.eu.healthy).toBe(true);
  });

  it("turns an isolate's invalidation into a purge rule, answered once the colo's other isolates have it", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0 });
    const { version } = await state.sync({ pop: "Outpost-FRA", isolate: "b2", have: 0, purgeSeq: 0 });
    // b2 holds a sync, as a busy isolate does; IAD's isolate is another POP: nothing is waited for there.
    const held = state.sync({ pop: "Outpost-FRA", isolate: "b2", have: version, purgeSeq: 0 }, 5000);
    await state.sync({ pop: "Outpost-IAD", isolate: "c3", have: 0, purgeSeq: 0 });
    const answer = await state.invalidate({ pop: "Outpost-FRA", isolate: "a1", keys: ["https://h/a"] });
    expect(answer.reachedColo).toBe(true);
    expect((await held).purges.map((r) => r.targets)).toEqual([[{ kind: "url", value: "https://h/a" }]]);
    // An isolate silent for long is not waited for: it syncs before its next answer.
    clock.now += 60_000;
    await state.sync({ pop: "Outpost-FRA", isolate: "d4", have: 0, purgeSeq: 1 });
    const started = Date.now();
    expect((await state.invalidate({ pop: "Outpost-FRA", isolate: "d4", keys: ["https://h/b"] })).reachedColo).toBe(true);
    expect(Date.now() - started).toBeLessThan(200);
  });

  it("answers an invalidation within its wait when an isolate that holds syncs does not take it", async () => {
    const clock = { now: 1_000_000 };
    const state = stateAt(clock);
    await state.sync({ pop: "Outpost-FRA", isolate: "a1", have: 0, purgeSeq: 0 });
    await state.sync({ pop: "Outpost-FRA", isolate: "b2", have: 0, purgeSeq: 0 });
    const started = Date.now();
    const answer = await state.invalidate({ pop: "Outpost-FRA", isolate: "a1", keys: ["https://h/a"] });
    expect(answer).toMatchObject({ seq: 1, reachedColo: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(INVALIDATION_WAIT_MS - 5);
  });
});

describe("a purge at the control plane's storage", () => {
  it("costs no row write per isolate: positions are written at most once a minute each", async () => {
    const clock = { now: 1_000_000 };
    const storage = new MemoryControlStorage();
    let popWrites = 0;
    const putRow = storage.putRow.bind(storage);
    storage.putRow = async (table, id, value) => {
      if (table === "pop") popWrites++;
      return putRow(table, id, value);
    };
    const state = stateAt(clock, storage);
    const isolates = Array.from({ length: 100 }, (_, i) => `i${i}`);
    for (const isolate of isolates) await state.sync({ pop: `Outpost-C${isolates.indexOf(isolate) % 10}`, isolate, have: 0, purgeSeq: 0 });
    expect(popWrites).toBe(100);
    popWrites = 0;
    for (let purge = 1; purge <= 3; purge++) {
      clock.now += 1000;
      await state.purge([{ kind: "url", value: `https://h/${purge}` }], false, `p${purge}`);
      // Every isolate syncs with its new position, as after a purge it does.
      for (const isolate of isolates) await state.sync({ pop: `Outpost-C${isolates.indexOf(isolate) % 10}`, isolate, have: 0, purgeSeq: purge });
    }
    expect(popWrites).toBe(0);
    const status = await state.purgeStatus("p3");
    expect(status?.pops.every((p) => p.applied)).toBe(true);
  });
});
