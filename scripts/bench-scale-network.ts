/**
 * Issue 25's network, simulated: 10,000 isolates in 300 colos, each running
 * the product's own SnapshotClient (held syncs, jittered backoff, the idle
 * wait) against its region's relay (RelayState) in front of the global
 * object (ControlState), all in process over modelled one-way latencies
 * (bench-scale-world.ts). Measures, in one run: the requests a second at the
 * global object and at the busiest relay, steady and in each second after a
 * purge; how long the purge took to reach every isolate; then the global
 * object down for 60 s (requests at it while down and reconnecting, client
 * requests that waited) and a purge accepted 30 s after it came back.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Snapshot } from "../common/snapshot";
import { ControlState } from "../control/state";
import { MemoryControlStorage } from "../control/storage";
import { SnapshotClient } from "../edge/snapshot-client";
import { configFor, reachOf, sleep, type Reach } from "./bench-scale-model";
import { HOLD_MS, World } from "./bench-scale-world";

export interface NetworkResult {
  isolates: number;
  colos: number;
  relays: number;
  /** Requests a second at the global object over a whole hold with nothing to tell. */
  steadyPerSecond: number;
  /** Requests at the global object in each of the 5 seconds after a purge. */
  afterPurgePerSecond: number[];
  /** The busiest relay: its requests a second over the steady hold, and its busiest second from then to the end of the purge's 5 s. */
  busiestRelay: { name: string; perSecond: number; peak: number };
  purge: PurgeReach;
  /** How late this thread's timers ran while the purge travelled (p99, ms): the simulation's own load, in every figure above. */
  loopDelayP99Ms: number;
  outage: OutageResult;
}

export interface OutageResult {
  downMs: number;
  /** Requests at the global object a second: highest while down, highest in the 30 s after it came back. */
  peakDuring: number;
  peakReconnecting: number;
  /** Simulated client requests that waited on a sync after the first, and the longest wait. */
  requestsThatWaited: number;
  longestWaitMs: number;
  /** A purge accepted 30 s after the object came back. */
  purgeAfterReturn: PurgeReach;
}

/** How one purge travelled to every isolate. */
export interface PurgeReach {
  /** Purge accepted → the answer carrying it at the isolate, on the modelled clock (modelledReach), ms. */
  modelled: Reach;
  /** The same, each relay's isolates: their p95. */
  modelledP95ByRelay: Record<string, number>;
  /** Purge accepted → the answer carrying it applied at the isolate, ms, as run: every isolate's CPU on this one thread. */
  asRun: Reach;
  /** Isolates holding a sync at a relay when the purge was accepted (the rest hear of it when they next ask). */
  heldAtPurge: number;
}

function purgeReachOf(travel: Travel): PurgeReach {
  return {
    modelled: reachOf([...travel.sentByRelay.values()].flat()),
    modelledP95ByRelay: Object.fromEntries([...travel.sentByRelay].map(([name, ms]) => [name, reachOf(ms).p95])),
    asRun: reachOf(travel.reached),
    heldAtPurge: travel.held,
  };
}

/** A purge on its way: when it was accepted, when it reached each isolate (as run, modelled), when each relay got it. */
interface Travel {
  seq: number;
  at: number;
  reached: number[];
  /** Modelled reach (modelledReach) of each isolate, by its relay. */
  sentByRelay: Map<string, number[]>;
  atRelay: Map<string, { answeredAt: number; arrivedAt: number }>;
  /** Isolates' syncs the relays held when the purge was accepted. */
  held: number;
}

/**
 * When the purge reached an isolate, on the modelled clock: the product's own time as it ran (the global object
 * accepting and answering the relay's held sync; the relay, from the answer's arrival to this isolate's send, its
 * fan-out) plus each trip at its modelled length. Not counted: how late this thread ran the trips' timers (other
 * relays' and 10,000 isolates' work, on other machines in production) and the isolate's own parsing. An isolate
 * that held no sync when the answer arrived counts from the arrival to when it asked: its wait, with whatever
 * lateness its own timers had (so that part reads high, never low).
 */
function modelledReach(purge: Travel, relay: { name: string; oneWayMs: number; upstreamMs: number }, sentAt: number): number {
  const atRelay = purge.atRelay.get(relay.name);
  if (!atRelay) return sentAt - purge.at + relay.oneWayMs;
  return atRelay.answeredAt - purge.at + relay.upstreamMs + (sentAt - atRelay.arrivedAt) + relay.oneWayMs;
}

/**
 * A busy isolate's requests, ms apart: a request arms the next held sync. (At 250 ms, 10,000 isolates'
 * loops alone kept this one thread so busy that every timer, the modelled trips included, ran late.)
 */
const REQUEST_EVERY_MS = 1000;
/** How often a busy isolate sends its figures (METRICS_REPORT_MS's default). */
const METRICS_REPORT_MS = 30_000;

export async function simulateNetwork(isolates = 10_000, colos = 300, downMs = 60_000): Promise<NetworkResult> {
  const state = new ControlState(new MemoryControlStorage(), configFor, Date.now, () => undefined);
  const world = new World(state, colos);
  let running = true;
  let counting = false;
  let waited = 0;
  let longestWaitMs = 0;
  let purge: Travel | undefined;
  world.onUpstreamAnswer = (relay, answer, answeredAt, arrivedAt) => {
    if (purge && !purge.atRelay.has(relay) && answer.snapshot.purges.some((rule) => rule.seq === purge!.seq)) purge.atRelay.set(relay, { answeredAt, arrivedAt });
  };
  world.onSent = (answer, colo, sentAt) => {
    if (!purge || !answer.purges.some((rule) => rule.seq === purge!.seq)) return;
    const relay = world.relayOf(colo);
    const ms = modelledReach(purge, relay, sentAt);
    const byRelay = purge.sentByRelay.get(relay.name);
    if (byRelay) byRelay.push(ms);
    else purge.sentByRelay.set(relay.name, [ms]);
  };
  const loops = Array.from({ length: isolates }, async (_, i) => {
    const colo = i % colos;
    let applied = 0;
    let reachedSeq = 0;
    const client = new SnapshotClient({
      control: world.controlFor(colo),
      controlHost: "control.outpost.internal",
      popToken: undefined,
      popName: `Outpost-C${colo}`,
      identity: { id: `i${i}`, renewIfSilent: () => undefined },
      refreshMs: 1000,
      coldStartWaitMs: 500,
      longPollMs: HOLD_MS,
      syncReport: () => ({ purgeSeq: applied }),
      metrics: () => ({ counters: { requests: i } }),
      metricsReportMs: METRICS_REPORT_MS,
      onCatchUp: () => undefined,
      onSnapshot: (next: Snapshot) => {
        applied = Math.max(applied, next.purges.at(-1)?.seq ?? next.purgeSeq);
        if (purge && applied >= purge.seq && reachedSeq < purge.seq) {
          reachedSeq = purge.seq;
          purge.reached.push(Date.now() - purge.at);
        }
        return applied;
      },
    });
    // Isolates come up over one hold, so their held syncs end spread out, as a running network's do.
    await sleep(Math.random() * HOLD_MS);
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
  const purgeNow = async (id: string) => {
    const at = Date.now();
    const rule = await state.purge([{ kind: "url", value: `https://cdn.example.com/${id}` }], false, id);
    purge = { seq: rule.seq, at, reached: [], sentByRelay: new Map(), atRelay: new Map(), held: world.heldSyncs() };
    return world.second(at);
  };
  const untilReached = async (bound: number) => {
    for (let s = 0; s < bound && (purge?.reached.length ?? 0) < isolates; s++) await sleep(1000);
  };
  // Steady: one whole hold, from when every isolate is up (each re-arms about once in it).
  await sleep(HOLD_MS + 2000);
  counting = true;
  const steadyFrom = world.second();
  await sleep(HOLD_MS);
  const steadyTo = world.second();
  const steadyPerSecond = world.global.rate(steadyFrom, steadyTo);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const purgeSecond = await purgeNow("scale");
  await sleep(5500);
  const afterPurgePerSecond = Array.from({ length: 5 }, (_, k) => world.global.between(purgeSecond + k, purgeSecond + k + 1));
  const relayLoad = world.relayLoad(steadyFrom, steadyTo);
  const busiestRelay = { ...relayLoad, peak: world.relayLoad(steadyFrom, world.second()).peak };
  await untilReached(10);
  const firstPurge = purgeReachOf(purge!);
  loopDelay.disable();
  const loopDelayP99Ms = Math.round(loopDelay.percentile(99) / 1e6);
  // The global object away for downMs: relays keep serving their isolates and retry with backoff.
  world.setDown(true);
  const downFrom = world.second();
  await sleep(downMs);
  world.setDown(false);
  const upAt = world.second();
  await sleep(30_000);
  const returnSecond = await purgeNow("after-outage");
  await untilReached(90);
  running = false;
  void Promise.allSettled(loops);
  const outage: OutageResult = {
    downMs,
    peakDuring: world.global.peak(downFrom, upAt),
    peakReconnecting: world.global.peak(upAt, returnSecond),
    requestsThatWaited: waited,
    longestWaitMs,
    purgeAfterReturn: purgeReachOf(purge!),
  };
  return {
    isolates,
    colos,
    relays: world.relayArrivals.size,
    steadyPerSecond,
    afterPurgePerSecond,
    busiestRelay,
    purge: firstPurge,
    loopDelayP99Ms,
    outage,
  };
}
