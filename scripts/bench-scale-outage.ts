/**
 * Issue 25's outage: the global control object down for 60 s under 10,000
 * isolates. Each simulated isolate runs the product's own SnapshotClient
 * (held syncs, jittered exponential backoff, the idle wait) against the
 * control plane's own code in process (ControlState) through a stub of the
 * CONTROL binding that adds each region's modelled one-way latency and, while
 * the object is down, answers 503 after the round trip as an unreachable
 * Durable Object does. Reports the requests arriving at the object each second
 * (steady, during, reconnecting, after a purge), how long requests waited on
 * the control plane, and how long a purge accepted once it was back took to
 * reach every isolate (those still backing off learn it at their retry).
 */
import type { Snapshot } from "../common/snapshot";
import type { SyncRequest } from "../common/wire";
import { ControlState } from "../control/state";
import { MemoryControlStorage } from "../control/storage";
import { SnapshotClient } from "../edge/snapshot-client";
import { Arrivals, configFor, reachOf, regionOfColo, sleep, type Reach } from "./bench-scale-model";

export interface OutageResult {
  isolates: number;
  downMs: number;
  /**
   * Requests arriving at the global object a second: steady before, highest during, highest in the
   * 30 s after it came back (isolates reconnecting, before any purge), and highest once a purge has
   * released every held sync (each isolate re-arms: the wave issue 25's relays are for).
   */
  perSecond: { steady: number; peakDuring: number; peakReconnecting: number; peakAfterPurge: number };
  /** Simulated client requests that waited on a sync after the first, and the longest wait. */
  requestsThatWaited: number;
  longestWaitMs: number;
  /** A purge accepted 30 s after the object came back: when it had reached each isolate, ms (p50, p95, max). */
  purgeAfterReturn: Reach;
}

const HOLD_MS = 20_000;
/** A busy isolate's requests, ms apart. */
const REQUEST_EVERY_MS = 250;

/** The CONTROL binding as the simulation has it: a round trip to the one object, which may be down. */
interface World {
  down: boolean;
  /** Settles when the object next goes down: the syncs it held break off then. */
  wentDown: Promise<void>;
  arrivals: (now: number) => void;
}

function controlStub(state: ControlState, oneWayMs: number, world: World): Fetcher {
  const fetcher = {
    async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
      await sleep(oneWayMs);
      world.arrivals(Date.now());
      const path = new URL(typeof input === "string" || input instanceof URL ? input : input.url).pathname;
      if (world.down) {
        await sleep(oneWayMs);
        return new Response('{"error":"control plane unavailable"}', { status: 503 });
      }
      if (path !== "/v1/sync") {
        await sleep(oneWayMs);
        return new Response(null, { status: 204 });
      }
      const request = JSON.parse(String(init?.body)) as SyncRequest;
      const answer = await Promise.race([state.sync({ ...request, purgeSeq: request.purgeSeq ?? 0 }, request.wait ?? 0), world.wentDown.then(() => undefined)]);
      await sleep(oneWayMs);
      return answer ? Response.json(answer) : new Response('{"error":"control plane went away"}', { status: 503 });
    },
  };
  return fetcher as unknown as Fetcher;
}

export async function simulateOutage(isolates = 10_000, colos = 300, downMs = 60_000): Promise<OutageResult> {
  const state = new ControlState(new MemoryControlStorage(), configFor, Date.now, () => undefined);
  const arrivals = new Arrivals(Date.now());
  let goDown!: () => void;
  const world: World = {
    down: false,
    wentDown: new Promise<void>((resolve) => (goDown = resolve)),
    arrivals: (now) => arrivals.count(now),
  };
  /** Waits count from the steady phase on: every isolate's first sync waits, by design. */
  let counting = false;
  let running = true;
  let waited = 0;
  let longestWaitMs = 0;
  let purge: { seq: number; at: number } | undefined;
  const reachedMs: number[] = [];
  const loops = Array.from({ length: isolates }, async (_, i) => {
    const colo = i % colos;
    let applied = 0;
    let reached = false;
    const client = new SnapshotClient({
      control: controlStub(state, regionOfColo(colo, colos).oneWayMs, world),
      controlHost: "control.outpost.internal",
      popToken: undefined,
      popName: `Outpost-C${colo}`,
      identity: { id: `i${i}`, renewIfSilent: () => undefined },
      refreshMs: 1000,
      coldStartWaitMs: 500,
      longPollMs: HOLD_MS,
      syncReport: () => ({ purgeSeq: applied }),
      metrics: () => ({}) as never,
      metricsReportMs: 0,
      onCatchUp: () => undefined,
      onSnapshot: (next: Snapshot) => {
        applied = Math.max(applied, next.purges.at(-1)?.seq ?? next.purgeSeq);
        if (!reached && purge && applied >= purge.seq) {
          reached = true;
          reachedMs.push(Date.now() - purge.at);
        }
        return applied;
      },
    });
    await sleep(Math.random() * 2000);
    while (running) {
      const wait = client.forRequest((p) => void p.catch(() => undefined), Date.now());
      if (wait) {
        const from = Date.now();
        await wait;
        if (counting) {
          waited++;
          longestWaitMs = Math.max(longestWaitMs, Date.now() - from);
        }
      }
      await sleep(REQUEST_EVERY_MS * (0.5 + Math.random()));
    }
  });
  const second = () => arrivals.second();
  await sleep(4000);
  counting = true;
  const steadyFrom = second();
  await sleep(HOLD_MS);
  const steady = arrivals.rate(steadyFrom, second());
  world.down = true;
  goDown();
  const downFrom = second();
  await sleep(downMs);
  world.down = false;
  world.wentDown = new Promise<void>(() => undefined);
  const upAt = second();
  await sleep(30_000);
  const purgeSecond = second();
  purge = { seq: (await state.purge([{ kind: "url", value: "https://cdn.example.com/after" }], false, "outage")).seq, at: Date.now() };
  for (let s = 0; s < 90 && reachedMs.length < isolates; s++) await sleep(1000);
  running = false;
  void Promise.allSettled(loops);
  return {
    isolates,
    downMs,
    perSecond: { steady, peakDuring: arrivals.peak(downFrom, upAt), peakReconnecting: arrivals.peak(upAt, purgeSecond), peakAfterPurge: arrivals.peak(purgeSecond, second()) },
    requestsThatWaited: waited,
    longestWaitMs,
    purgeAfterReturn: reachOf(reachedMs),
  };
}
