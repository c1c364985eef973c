/**
 * Chaos scenarios against a running local network, driven through the
 * reference origins' fault switches. Each is bounded in time and request
 * count and returns figures; `npm run chaos` prints them, the end-to-end
 * tests assert on them.
 */
import { Agent, request } from "undici";
import type { Topology, TopologyOrigin, TopologyPop } from "./network";

export interface LoadSample {
  at: number;
  kind: "cached" | "miss";
  status: number;
  originId: string | null;
  cacheStatus: string;
  ms: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Posts to a reference origin's fault switch; the answer as it came (a bad body gets 400). */
export function postFault(admin: string, fault: Record<string, unknown>): Promise<Response> {
  return fetch(`${admin}/fault`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fault) });
}

export async function setFault(origin: TopologyOrigin, fault: Record<string, unknown>): Promise<void> {
  const r = await postFault(origin.admin, fault);
  if (!r.ok) throw new Error(`fault switch of ${origin.id} answered ${r.status}`);
  await r.arrayBuffer();
}

interface PopStatus {
  origins: { originId: string; ejected: boolean; totalEjections: number }[];
  health: Record<string, { healthy: boolean }>;
  counters: Record<string, number>;
}

export async function popStatus(pop: TopologyPop, token: string): Promise<PopStatus> {
  return (await (await fetch(`${pop.url}/__outpost/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as PopStatus;
}

async function controlHealth(topology: Topology): Promise<Record<string, { healthy: boolean }>> {
  const r = await fetch(`${topology.control.url}/v1/health`, { headers: { authorization: `Bearer ${topology.control.token}` } });
  return ((await r.json()) as { origins: Record<string, { healthy: boolean }> }).origins;
}

/** Polls until `probe` is true; the ms it took, or null when `timeoutMs` ran out. */
async function timeUntil(probe: () => Promise<boolean>, timeoutMs: number, since = Date.now()): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return Date.now() - since;
    } catch {
      // keep polling
    }
    await sleep(50);
  }
  return null;
}

let uniqueCounter = 0;

/** The load's own client (undici): kept-alive connections, and no request waits past 15 s for headers or bytes. */
const LOAD_AGENT = new Agent({ connections: 64, headersTimeout: 15_000, bodyTimeout: 15_000, keepAliveTimeout: 4000 });

/** A bounded load: `workers` loops for `durationMs`, alternating cached paths and unique misses. */
export async function runMixedLoad(pop: TopologyPop, cachedPaths: string[], durationMs: number, workers = 8, maxRequests = 20_000): Promise<LoadSample[]> {
  const samples: LoadSample[] = [];
  const end = Date.now() + durationMs;
  const loop = async (w: number) => {
    let i = 0;
    while (Date.now() < end && samples.length < maxRequests) {
      const kind: LoadSample["kind"] = (i++ + w) % 2 === 0 ? "cached" : "miss";
      const path = kind === "cached" ? cachedPaths[i % cachedPaths.length] : `/gen/1024?ttl=60&chaos=${process.pid}-${++uniqueCounter}`;
      const started = Date.now();
      try {
        const r = await request(`${pop.url}${path}`, { dispatcher: LOAD_AGENT });
        await r.body.arrayBuffer();
        const header = (name: string) => [r.headers[name]].flat()[0] ?? null;
        samples.push({ at: started, kind, status: r.statusCode, originId: header("x-origin-id"), cacheStatus: header("cache-status") ?? "", ms: Date.now() - started });
      } catch {
        samples.push({ at: started, kind, status: 0, originId: null, cacheStatus: "", ms: Date.now() - started });
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  return samples;
}

function errors(samples: LoadSample[], kind: LoadSample["kind"]): number {
  return samples.filter((s) => s.kind === kind && (s.status === 0 || s.status >= 500)).length;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** What the misses of a load came to: how many, how many failed, their latency, which origins answered. */
export interface MissFigures {
  misses: number;
  missErrors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  servedBy: Record<string, number>;
}

export function missFigures(misses: LoadSample[]): MissFigures {
  const servedBy: Record<string, number> = {};
  for (const s of misses) if (s.originId) servedBy[s.originId] = (servedBy[s.originId] ?? 0) + 1;
  const ms = misses.map((s) => s.ms);
  return {
    misses: misses.length,
    missErrors: errors(misses, "miss"),
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
    maxMs: Math.max(0, ...ms),
    servedBy,
  };
}

export const CACHED_PATHS = ["/index.html", "/styles/site.css", "/scripts/app.js", "/images/logo.svg"];

async function warm(pop: TopologyPop, paths: string[]): Promise<void> {
  for (const p of paths) await (await fetch(`${pop.url}${p}`)).arrayBuffer();
}

export interface KillNearestResult {
  pop: string;
  killed: string;
  requests: number;
  cachedErrors: number;
  missErrors: number;
  missesAfterKillServedBy: Record<string, number>;
  /** Kill → this POP has ejected the origin (passive). */
  ejectedByPopMs: number | null;
  /** Kill → the control plane's probes call it down (active). */
  downByProbesMs: number | null;
  /** Kill → another POP has learned of it through the snapshot. */
  otherPopLearnedMs: number | null;
  /** Origin back → this POP sends misses to it again. */
  recoveredMs: number | null;
}

/** The nearest origin of a POP dies under load; then comes back. */
export async function killNearestOrigin(topology: Topology, colo = "FRA", originId = "eu-central", loadMs = 6000): Promise<KillNearestResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  const other = topology.pops.find((p) => p.colo !== colo)!;
  const origin = topology.origins.find((o) => o.id === originId)!;
  await warm(pop, CACHED_PATHS);
  const loading = runMixedLoad(pop, CACHED_PATHS, loadMs);
  await sleep(Math.min(1000, loadMs / 4));
  const killedAt = Date.now();
  await setFault(origin, { mode: "down" });
  const [ejectedByPopMs, downByProbesMs, otherPopLearnedMs] = await Promise.all([
    timeUntil(async () => (await popStatus(pop, topology.control.token)).origins.some((o) => o.originId === originId && o.ejected), 15_000, killedAt),
    timeUntil(async () => (await controlHealth(topology))[originId]?.healthy === false, 15_000, killedAt),
    timeUntil(async () => (await popStatus(other, topology.control.token)).health[originId]?.healthy === false, 15_000, killedAt),
  ]);
  const samples = await loading;
  const servedBy: Record<string, number> = {};
  for (const s of samples) if (s.kind === "miss" && s.at > killedAt && s.originId) servedBy[s.originId] = (servedBy[s.originId] ?? 0) + 1;

  const backAt = Date.now();
  await setFault(origin, { mode: "ok" });
  const recoveredMs = await timeUntil(
    async () => {
      const r = await fetch(`${pop.url}/gen/1024?ttl=60&recover=${++uniqueCounter}`);
      await r.arrayBuffer();
      return r.headers.get("x-origin-id") === originId;
    },
    90_000,
    backAt,
  );
  return {
    pop: pop.name,
    killed: originId,
    requests: samples.length,
    cachedErrors: errors(samples, "cached"),
    missErrors: errors(samples, "miss"),
    missesAfterKillServedBy: servedBy,
    ejectedByPopMs,
    downByProbesMs,
    otherPopLearnedMs,
    recoveredMs,
  };
}

export interface AllDownResult {
  pop: string;
  cachedRequests: number;
  cachedServed: number;
  staleServed: number;
  uncachedStatus: number[];
  uncachedMaxMs: number;
  /** Origins back → first 200 for uncached content. */
  recoveredMs: number | null;
  /** Origins back → the control plane calls every one healthy again. */
  allHealthyMs: number | null;
}

/** Every origin down: cached content still served (stale where needed), uncached gets a quick 5xx. */
export async function allOriginsDown(topology: Topology, colo = "IAD"): Promise<AllDownResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  await warm(pop, [...CACHED_PATHS, "/api/products.json"]);
  await Promise.all(topology.origins.map((o) => setFault(o, { mode: "down" })));
  let cachedServed = 0;
  let staleServed = 0;
  const uncachedStatus: number[] = [];
  const uncachedMs: number[] = [];
  const paths = [...CACHED_PATHS, "/api/products.json"];
  try {
    // Long enough for the probes to call every origin down (two intervals): the answer turns from
    // 502 (this origin refused) to 503 (the site has no healthy origin).
    for (let round = 0; round < 8; round++) {
      for (const p of paths) {
        const r = await fetch(`${pop.url}${p}`);
        await r.arrayBuffer();
        if (r.status === 200) cachedServed++;
        if (/fwd=stale/.test(r.headers.get("cache-status") ?? "") || /stale/.test(r.headers.get("cache-status") ?? "")) staleServed++;
      }
      const started = Date.now();
      const r = await fetch(`${pop.url}/gen/512?ttl=60&alldown=${++uniqueCounter}`, { signal: AbortSignal.timeout(15_000) });
      await r.arrayBuffer();
      uncachedStatus.push(r.status);
      uncachedMs.push(Date.now() - started);
      await sleep(700);
    }
  } finally {
    await Promise.all(topology.origins.map((o) => setFault(o, { mode: "ok" })));
  }
  const backAt = Date.now();
  const recoveredMs = await timeUntil(
    async () => {
      const r = await fetch(`${pop.url}/gen/512?ttl=60&alldown=${++uniqueCounter}`);
      await r.arrayBuffer();
      return r.status === 200;
    },
    90_000,
    backAt,
  );
  // Back in full: the probes have seen every origin up for their healthy threshold.
  const allHealthyMs = await timeUntil(async () => Object.values(await controlHealth(topology)).every((h) => h.healthy), 30_000, backAt);
  return { pop: pop.name, cachedRequests: paths.length * 8, cachedServed, staleServed, uncachedStatus, uncachedMaxMs: Math.max(...uncachedMs), recoveredMs, allHealthyMs };
}

export interface SlowOriginResult extends MissFigures {
  pop: string;
  slowOrigin: string;
  delayMs: number;
  timeoutMs: number;
}

/** The nearest origin answers slower than the POP's timeout. */
export async function slowOrigin(topology: Topology, timeoutMs: number, colo = "SIN", originId = "ap-southeast", loadMs = 5000): Promise<SlowOriginResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  const origin = topology.origins.find((o) => o.id === originId)!;
  const delayMs = timeoutMs * 3;
  await setFault(origin, { mode: "slow", delayMs });
  let samples: LoadSample[];
  try {
    samples = (await runMixedLoad(pop, CACHED_PATHS, loadMs, 4)).filter((s) => s.kind === "miss");
  } finally {
    await setFault(origin, { mode: "ok" });
  }
  return { pop: pop.name, slowOrigin: originId, delayMs, timeoutMs, ...missFigures(samples) };
}

export interface BrokenBodyResult extends MissFigures {
  pop: string;
  origin: string;
  mode: "stall" | "truncate";
  bodyIdleTimeoutMs: number;
  cachedErrors: number;
  /** Fault on → the POP ejected the origin (null: never). */
  ejectedByPopMs: number | null;
}

/**
 * The nearest origin sends headers and 200 bytes of every body, then stalls
 * (silence on an open connection) or truncates (resets it), under load.
 */
export async function brokenBodies(
  topology: Topology,
  mode: "stall" | "truncate",
  bodyIdleTimeoutMs: number,
  colo = "FRA",
  originId = "eu-central",
  loadMs = 5000,
): Promise<BrokenBodyResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  const origin = topology.origins.find((o) => o.id === originId)!;
  await warm(pop, CACHED_PATHS);
  const ejectionsBefore = await totalEjections(topology, pop, originId);
  const faultAt = Date.now();
  await setFault(origin, { mode, afterBytes: 200 });
  let samples: LoadSample[];
  let ejectedByPopMs: number | null;
  try {
    const loading = runMixedLoad(pop, CACHED_PATHS, loadMs, 8);
    ejectedByPopMs = await timeUntil(async () => (await totalEjections(topology, pop, originId)) > ejectionsBefore, loadMs + 2000, faultAt);
    samples = await loading;
  } finally {
    await setFault(origin, { mode: "ok" });
  }
  const misses = samples.filter((s) => s.kind === "miss");
  return { pop: pop.name, origin: originId, mode, bodyIdleTimeoutMs, ...missFigures(misses), cachedErrors: errors(samples, "cached"), ejectedByPopMs };
}

export interface ShieldDownResult {
  pop: string;
  shards: number;
  requests: number;
  cachedErrors: number;
  missErrors: number;
  /** Misses answered while the shards were down: straight from the origin, Cache-Status saying why. */
  missesDirect: number;
  /** Shards up again → the POP's misses go through a shield again (null: not within the bound). */
  backThroughShieldMs: number | null;
}

async function shieldFault(topology: Topology, down: boolean): Promise<number> {
  let shards = 0;
  for (const shield of topology.shields) {
    const [region, shard] = shield.url.split("/__shield/")[1].split("/");
    const r = await fetch(`${topology.control.url}/v1/shields/${region}/${shard}/fault`, {
      method: "POST",
      headers: { authorization: `Bearer ${topology.control.token}`, "content-type": "application/json" },
      body: JSON.stringify({ down }),
    });
    if (r.ok) shards++;
    await r.arrayBuffer();
  }
  return shards;
}

/** Every shield shard switched down under load at one POP, then back. */
export async function shieldShardsDown(topology: Topology, colo = "FRA", loadMs = 5000): Promise<ShieldDownResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  await warm(pop, CACHED_PATHS);
  const loading = runMixedLoad(pop, CACHED_PATHS, loadMs, 8);
  await sleep(Math.min(1000, loadMs / 4));
  const shards = await shieldFault(topology, true);
  let samples: LoadSample[];
  try {
    samples = await loading;
  } finally {
    await shieldFault(topology, false);
  }
  const upAt = Date.now();
  // Ejection runs out (baseEjectionMs), then a half-open trial finds the shard up.
  const backThroughShieldMs = await timeUntil(
    async () => {
      const r = await fetch(`${pop.url}/gen/1024?ttl=60&back=${Date.now()}`);
      await r.arrayBuffer();
      return (r.headers.get("cache-status") ?? "").startsWith("Outpost-Shield-");
    },
    30_000,
    upAt,
  );
  return {
    pop: pop.name,
    shards,
    requests: samples.length,
    cachedErrors: errors(samples, "cached"),
    missErrors: errors(samples, "miss"),
    missesDirect: samples.filter((s) => s.kind === "miss" && /detail="shield-(down|ejected)"/.test(s.cacheStatus)).length,
    backThroughShieldMs,
  };
}

export interface ShieldStaleResult {
  objects: number;
  /** Objects a POP that never had them got (stale) from the shield with every origin down. */
  servedStale: number;
}

/** Objects fetched at one POP go stale; every origin dies; a POP that never had them asks. */
export async function originsDownStaleFromShield(topology: Topology, from = "IAD", to = "GRU", objects = 10): Promise<ShieldStaleResult> {
  const source = topology.pops.find((p) => p.colo === from)!;
  const asking = topology.pops.find((p) => p.colo === to)!;
  const paths = Array.from({ length: objects }, (_, i) => `/gen/1500?ttl=1&stale=${Date.now()}-${i}`);
  for (const path of paths) await (await fetch(`${source.url}${path}`)).arrayBuffer();
  await sleep(1500);
  for (const origin of topology.origins) await setFault(origin, { mode: "down" });
  let servedStale = 0;
  try {
    for (const path of paths) {
      const r = await fetch(`${asking.url}${path}`);
      await r.arrayBuffer();
      if (r.status === 200 && /^Outpost-Shield-[^,]*fwd=stale/.test(r.headers.get("cache-status") ?? "")) servedStale++;
    }
  } finally {
    for (const origin of topology.origins) await setFault(origin, { mode: "ok" });
  }
  return { objects, servedStale };
}

export interface FlapResult {
  origin: string;
  periodMs: number;
  durationMs: number;
  probeTransitions: number;
  minMsBetweenTransitions: number | null;
  popEjections: number;
  missErrors: number;
}

/** An origin goes down and up every `periodMs`: health follows within the thresholds, no faster. */
export async function flappingOrigin(topology: Topology, periodMs = 3000, durationMs = 12_000, colo = "FRA", originId = "eu-central"): Promise<FlapResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  const origin = topology.origins.find((o) => o.id === originId)!;
  const before = await transitionsOf(topology, originId);
  const ejectionsBefore = await totalEjections(topology, pop, originId);
  await setFault(origin, { mode: "flap", periodMs });
  let samples: LoadSample[];
  try {
    samples = await runMixedLoad(pop, CACHED_PATHS, durationMs, 4);
  } finally {
    await setFault(origin, { mode: "ok" });
  }
  const after = (await transitionsOf(topology, originId)).filter((t) => !before.some((b) => b.at === t.at));
  const gaps = after.slice(1).map((t, i) => t.at - after[i].at);
  return {
    origin: originId,
    periodMs,
    durationMs,
    probeTransitions: after.length,
    minMsBetweenTransitions: gaps.length ? Math.min(...gaps) : null,
    popEjections: (await totalEjections(topology, pop, originId)) - ejectionsBefore,
    missErrors: samples.filter((s) => s.kind === "miss" && (s.status === 0 || s.status >= 500)).length,
  };
}

async function transitionsOf(topology: Topology, originId: string): Promise<{ at: number }[]> {
  const r = await fetch(`${topology.control.url}/v1/health`, { headers: { authorization: `Bearer ${topology.control.token}` } });
  const body = (await r.json()) as { transitions: { originId: string; at: number }[] };
  return body.transitions.filter((t) => t.originId === originId);
}

/** Ejections of an origin over the POP's isolates: as many status reads in a row, which the front hands to each in turn. */
async function totalEjections(topology: Topology, pop: TopologyPop, originId: string): Promise<number> {
  let total = 0;
  for (let i = 0; i < pop.isolates; i++) total += (await popStatus(pop, topology.control.token)).origins.find((o) => o.originId === originId)?.totalEjections ?? 0;
  return total;
}

export interface AllStallingResult {
  pop: string;
  requests: number;
  bodyIdleTimeoutMs: number;
  deadlineMs: number;
  /** Statuses the cold requests were answered with, and how often. */
  statuses: Record<string, number>;
  /** Slowest answer, ms from when all were sent. */
  maxMs: number;
  /** Answers that never came (a connection closed without a status line). */
  unanswered: number;
}

/**
 * Every origin sends its headers and 100 bytes of each body, then goes silent;
 * `concurrency` clients ask one POP for the same cold object at once (the
 * leader's fill and its collapsed followers). Each must get a status line
 * (504 or 502) within the request's deadline, never wait on fresh timeouts.
 */
export async function allOriginsStalling(
  topology: Topology,
  config: { bodyIdleTimeoutMs: number; deadlineMs: number },
  colo = "FRA",
  concurrency = 20,
): Promise<AllStallingResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  for (const origin of topology.origins) await setFault(origin, { mode: "stall", afterBytes: 100 });
  const path = `/gen/30000?ttl=60&chaos-stall=${process.pid}-${++uniqueCounter}`;
  const started = Date.now();
  let answers: { status: number; ms: number }[];
  try {
    answers = await Promise.all(
      Array.from({ length: concurrency }, async () => {
        try {
          const r = await request(`${pop.url}${path}`, { dispatcher: LOAD_AGENT });
          await r.body.arrayBuffer().catch(() => undefined);
          return { status: r.statusCode, ms: Date.now() - started };
        } catch {
          return { status: 0, ms: Date.now() - started };
        }
      }),
    );
  } finally {
    for (const origin of topology.origins) await setFault(origin, { mode: "ok" });
  }
  const statuses: Record<string, number> = {};
  for (const a of answers) statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
  return {
    pop: pop.name,
    requests: concurrency,
    ...config,
    statuses,
    maxMs: Math.max(0, ...answers.map((a) => a.ms)),
    unanswered: answers.filter((a) => a.status === 0).length,
  };
}

export interface ErrorPageOriginResult {
  pop: string;
  origin: string;
  consecutiveFailures: number;
  /** Misses sent until the POP ejected the origin (null: not within the bound). */
  missesUntilEjected: number | null;
  /**
   * Who served the next misses, one at each isolate of the POP, once every isolate knows of the
   * ejection (the one that ejected tells the others through the control plane).
   */
  nextMissServedBy: string | null;
}

/** The origin that answered one new miss at the POP. */
async function missOrigin(pop: TopologyPop): Promise<string | null> {
  const r = await request(`${pop.url}/gen/512?ttl=60&chaos-miss=${process.pid}-${++uniqueCounter}`, { dispatcher: LOAD_AGENT });
  await r.body.arrayBuffer();
  return [r.headers["x-origin-id"]].flat()[0] ?? null;
}

/**
 * Waits (up to 20 s) until every isolate of the POP sends its misses to the origin again: as many
 * misses in a row as it has isolates, answered by the origin (the front takes them in turn). An
 * earlier scenario may have left the origin ejected at one isolate, and that isolate's half-open
 * trial would fail at the next fault, an ejection after one miss.
 */
export async function untilPopSendsTo(pop: TopologyPop, originId: string): Promise<void> {
  let inARow = 0;
  await timeUntil(async () => {
    inARow = (await missOrigin(pop)) === originId ? inARow + 1 : 0;
    return inARow >= pop.isolates;
  }, 20_000);
}

/**
 * FRA's nearest origin answers every request with a whole 503 page (a body
 * that arrives complete): the POP must count each as a gateway failure and
 * eject it after outlierDetection.consecutiveFailures, as for a refusal.
 */
export async function errorPageOrigin(topology: Topology, consecutiveFailures: number, colo = "FRA", originId = "eu-central", maxMisses = 30): Promise<ErrorPageOriginResult> {
  const pop = topology.pops.find((p) => p.colo === colo)!;
  const origin = topology.origins.find((o) => o.id === originId)!;
  await untilPopSendsTo(pop, originId);
  const before = await totalEjections(topology, pop, originId);
  await setFault(origin, { mode: "error", status: 503 });
  let missesUntilEjected: number | null = null;
  let nextMissServedBy: string | null = null;
  try {
    for (let n = 1; n <= maxMisses; n++) {
      await missOrigin(pop);
      if ((await totalEjections(topology, pop, originId)) > before) {
        missesUntilEjected = n;
        break;
      }
    }
    if (missesUntilEjected !== null) {
      const allKnow = async () => {
        for (let i = 0; i < pop.isolates; i++) if ((await popStatus(pop, topology.control.token)).health[originId]?.healthy !== false) return false;
        return true;
      };
      await timeUntil(allKnow, 5000);
      const served = new Set<string | null>();
      for (let i = 0; i < pop.isolates; i++) served.add(await missOrigin(pop));
      nextMissServedBy = served.size === 1 ? [...served][0] : [...served].join(" and ");
    }
  } finally {
    await setFault(origin, { mode: "ok" });
  }
  return { pop: pop.name, origin: originId, consecutiveFailures, missesUntilEjected, nextMissServedBy };
}
