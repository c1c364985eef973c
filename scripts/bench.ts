/**
 * `npm run bench`: throughput and latency of one POP under bounded load, next
 * to a bare worker (a constant body) under the same launcher (Miniflare), the
 * floor this platform allows. Writes .bench/results.json.
 *
 *   npm run bench -- --duration 5 --connections 16
 */
import { Agent, request } from "undici";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { loadNetworkConfig, type NetworkConfig } from "./network-config";
import { buildBundle, FRONT_WORKER, frontWorker, MINIFLARE_LOG_REQUESTS, originNamed, popAt, ROOT, spawnOrigin, startNetwork } from "./network";
import { LOAD_GENERATOR, medianRun, runLoad, type LoadResult } from "./load";
import { zipfSampler } from "./zipf";
import { measurePurgeScale, type PurgeScaleResult } from "./bench-purge-scale";
import { measureSlowClients, measureUrlFlood } from "./bench-bounds";
import { measureInProcess, profileInProcess } from "./bench-inprocess";
import { measurePeers } from "./bench-peers";
import { measureCodingHits, measureColdMisses, measureVariantFloor, type MissTiming } from "./bench-miss-path";
import { measureSeeks } from "./bench-seeks";
import { fetchesText, measureLargeCollapse } from "./bench-large-collapse";
import { measureRawWorkerdMisses } from "./bench-raw-workerd-miss";
import { measureMissHops, printMissHops } from "./bench-miss-hops";
import { freePort } from "./free-port";
import { originRequests, resetOriginStats } from "./origin-stats";
import { measureRawWorkerdHits, type RawWorkerdHits } from "./bench-raw-workerd";
import { type PurgeReach, simulateNetwork } from "./bench-scale-network";
import { measureScale } from "./bench-scale";

const SIZES = [1024, 16 * 1024, 256 * 1024];
/** A hit at the POP itself (a shield's member, Outpost-Shield-…, comes before the POP's). */
const POP_HIT = /(^|, )Outpost-[A-Z0-9]{3,4};hit/;

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    out: { type: "string", default: join(ROOT, ".bench", "results.json") },
    /** Also nginx proxy_cache and Varnish before the same origin, when installed. */
    peers: { type: "boolean", default: false },
    /** One measurement alone: "hits" (1 and 16 KiB hits against the bare worker), "raw-workerd" (the same under the workerd binary), "miss-hops" (a cold miss's hops off the wire), "purge" (propagation; fast, for trying networks of other sizes), "sync-load", "in-process", "profile" or "peers". */
    only: { type: "string" },
    /** The network file (default outpost.config.json), e.g. scripts/networks/sixteen-pops.json. */
    network: { type: "string" },
  },
});
const durationSeconds = Math.min(60, Math.max(1, Number(values.duration)));
const connections = Math.min(256, Math.max(1, Number(values.connections)));
const rounds = Math.min(9, Math.max(1, Number(values.rounds)));

/**
 * The floor: a worker that answers a constant body of the size in its path
 * and nothing else. "?headers" adds the header set a cache hit carries, since
 * under Miniflare every response field costs throughput of its own.
 */
const BARE_WORKER = `
const bodies = new Map();
// Built once, as a hit's shared fields are: a Headers given to a Response is copied in C++, while an
// array of pairs is converted field by field (about 27 µs for these under workerd).
const HIT_FIELDS = new Headers([["content-type","text/plain; charset=utf-8"],["cache-control","public, max-age=86400"],["etag","\\"g-0123456789abcdef\\""],["last-modified","Sun, 01 Nov 2026 00:00:00 GMT"],["date","Tue, 24 Nov 2026 06:30:41 GMT"],["x-origin-id","eu-central"],["x-origin-region","eu-central"],["accept-ranges","bytes"],["age","5"],["via","1.1 Outpost-FRA"],["cache-status","Outpost-FRA;hit;ttl=86000"],["vary","Accept-Encoding"],["server-timing","cache;desc=\\"hit\\", total;dur=0"]]);
export default {
  fetch(request) {
    const url = new URL(request.url);
    const size = Number(url.pathname.slice(1)) || 16384;
    let body = bodies.get(size);
    if (!body) { body = new Uint8Array(size).fill(120); bodies.set(size, body); }
    if (url.search === "?headers") return new Response(body, { headers: HIT_FIELDS });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  },
};`;

function ratioOf(results: Record<string, LoadResult>, a: string, b: string): number {
  return Math.round((results[a].rps / results[b].rps) * 100) / 100;
}

function fmt(r: LoadResult): string {
  return `${String(r.rps).padStart(7)} rps  p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(4)} ms  p99.9 ${String(r.p999).padStart(4)} ms  errors ${r.errors + r.non2xx}`;
}

interface CollapseResult {
  pop: string;
  concurrentRequests: number;
  originRequests: number;
}

interface ZipfResult {
  pop: string;
  requests: number;
  objects: number;
  hitRatio: number;
  originRequests: number;
}

type Topology = Awaited<ReturnType<typeof startNetwork>>["topology"];

/** Origin requests for one path across all origins; with `reset`, every count set back to zero first (and 0). */
async function originRequestTotal(topology: Topology, reset: boolean, path = ""): Promise<number> {
  if (reset) {
    await resetOriginStats(topology);
    return 0;
  }
  return originRequests(topology, path);
}

/** 100 concurrent requests for one cold key at each POP: how many reach an origin? */
async function measureCollapse(topology: Topology): Promise<CollapseResult[]> {
  const out: CollapseResult[] = [];
  for (const pop of topology.pops) {
    await originRequestTotal(topology, true);
    const url = `${pop.url}/gen/16384?ttl=600&collapse=${Date.now()}`;
    await Promise.all(Array.from({ length: 100 }, async () => (await fetch(url)).arrayBuffer()));
    const originRequests = await originRequestTotal(topology, false, "/gen/16384");
    out.push({ pop: pop.name, concurrentRequests: 100, originRequests });
    console.log(`collapse ${pop.name}: 100 concurrent cold requests → ${originRequests} origin request(s)`);
  }
  return out;
}

/** A Zipf (s = 1.0) workload over 10,000 objects at each POP: hit ratio and origin load. */
async function measureZipf(topology: Topology, requests = 4000, objects = 10_000, concurrency = 16): Promise<ZipfResult[]> {
  const out: ZipfResult[] = [];
  for (const pop of topology.pops) {
    await originRequestTotal(topology, true);
    const next = zipfSampler(objects, 1.0, 7);
    let sent = 0;
    let hits = 0;
    const worker = async () => {
      while (sent < requests) {
        sent++;
        const r = await fetch(`${pop.url}/gen/2048?ttl=3600&z=${next()}`);
        if (POP_HIT.test(r.headers.get("cache-status") ?? "")) hits++;
        await r.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const originRequests = await originRequestTotal(topology, false, "/gen/2048");
    const result = { pop: pop.name, requests, objects, hitRatio: Math.round((hits / requests) * 1000) / 1000, originRequests };
    out.push(result);
    console.log(`zipf ${pop.name}: ${requests} requests over ${objects} objects → hit ratio ${result.hitRatio}, ${originRequests} origin requests`);
  }
  return out;
}

interface TierResult {
  shield: boolean;
  pops: number;
  requestsPerPop: number;
  distinctObjects: number;
  originRequests: number;
  /** Origin requests per distinct object requested (goal with the shield: ≤ 1.1 per origin region). */
  originPerObject: number;
  /**
   * Per origin: its requests for the workload / the distinct objects it filled (as the answers'
   * x-origin-id say). With regional tiers, about one request per object per origin region.
   */
  perOriginRegion: Record<string, { requests: number; objects: number; perObject: number }>;
  /** 100 concurrent cold requests at every POP at once: origin requests in all. */
  collapseAllPops: number;
  /** A POP's miss for an object no cache has: p50, ms. */
  coldMissP50Ms: number;
  /** A POP's miss for an object another POP fetched before (a shield hit when the shield is on): p50, ms. */
  warmElsewhereMissP50Ms: number;
}

/** The POP's bundle, built once a run: every network and raw-workerd launcher in it serves the same one. */
let benchBundleBuilt: Promise<string> | undefined;
const benchBundle = () => (benchBundleBuilt ??= buildBundle(join(ROOT, ".outpost", "bench-build")));

const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The longest one tier-bench request may take before the run stops and names it. */
const TIER_REQUEST_TIMEOUT_MS = 30_000;

/**
 * After a tier request got no answer in time: the same URL asked again on a connection of its own
 * (a fresh undici Agent, not global fetch's pool). An answer there points at the client's pool; none
 * points at the POP, which must answer every request within its deadline.
 */
async function whatThePopSays(url: string): Promise<string> {
  const dispatcher = new Agent({ headersTimeout: 10_000, bodyTimeout: 10_000 });
  try {
    const again = await request(url, { dispatcher });
    await again.body.arrayBuffer();
    return `asked again on a fresh connection: ${again.statusCode}, cache-status ${again.headers["cache-status"] ?? "none"}`;
  } catch (err) {
    return `asked again on a fresh connection: no answer either (${(err as Error).message})`;
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
}

/**
 * The upper tier's worth: a Zipf (s = 1.0) workload over 10,000 objects
 * driven at every POP at once (each POP its own sequence), collapsing across
 * POPs, and what a miss costs with and without a shield in between.
 */
async function measureTiers(topology: Topology, shield: boolean, requestsPerPop = 4000): Promise<TierResult> {
  const tag = `${shield ? "s" : "d"}${Date.now()}`;
  await originRequestTotal(topology, true);
  const distinct = new Set<number>();
  const filledBy = new Map<string, Set<number>>();
  await Promise.all(
    topology.pops.map(async (pop, i) => {
      const next = zipfSampler(10_000, 1.0, 11 + i);
      let sent = 0;
      const worker = async () => {
        while (sent < requestsPerPop) {
          sent++;
          const z = next();
          distinct.add(z);
          const url = `${pop.url}/gen/2049?ttl=3600&t=${tag}&z=${z}`;
          let answer: Response;
          try {
            // Bounded well below undici's own 300 s, and named: about one run in twenty, one request here
            // gets no headers at all (a POP's workerd spinning outside JavaScript: README, regional tiers).
            answer = await fetch(url, { signal: AbortSignal.timeout(TIER_REQUEST_TIMEOUT_MS) });
            await answer.arrayBuffer();
          } catch (err) {
            const seen = await whatThePopSays(url);
            throw new Error(`tiers (shield ${shield ? "on" : "off"}): ${pop.name} ${url}: ${(err as Error).message}; ${seen}`, { cause: err });
          }
          const origin = answer.headers.get("x-origin-id");
          if (origin) (filledBy.get(origin) ?? filledBy.set(origin, new Set()).get(origin)!).add(z);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
    }),
  );
  const originRequests = await originRequestTotal(topology, false, "/gen/2049");
  const perOriginRegion: TierResult["perOriginRegion"] = {};
  for (const o of topology.origins) {
    const requests = ((await (await fetch(`${o.admin}/stats`)).json()) as { byPath: Record<string, number> }).byPath["/gen/2049"] ?? 0;
    const objects = filledBy.get(o.id)?.size ?? 0;
    perOriginRegion[o.id] = { requests, objects, perObject: objects ? Math.round((requests / objects) * 100) / 100 : 0 };
  }

  await originRequestTotal(topology, true);
  const cold = `/gen/16385?ttl=600&collapse=${tag}`;
  await Promise.all(topology.pops.flatMap((pop) => Array.from({ length: 100 }, async () => (await fetch(`${pop.url}${cold}`)).arrayBuffer())));
  const collapseAllPops = await originRequestTotal(topology, false, "/gen/16385");

  const [first, second] = [popAt(topology, "FRA"), topology.pops.find((p) => p.colo === "SIN") ?? topology.pops[1]];
  const coldMs: number[] = [];
  const warmMs: number[] = [];
  for (let i = 0; i < 40; i++) {
    const path = `/gen/4096?ttl=600&lat=${tag}-${i}`;
    let started = Date.now();
    await (await fetch(`${first.url}${path}`)).arrayBuffer();
    coldMs.push(Date.now() - started);
    started = Date.now();
    await (await fetch(`${second.url}${path}`)).arrayBuffer();
    warmMs.push(Date.now() - started);
  }
  const result: TierResult = {
    shield,
    pops: topology.pops.length,
    requestsPerPop,
    distinctObjects: distinct.size,
    originRequests,
    originPerObject: Math.round((originRequests / distinct.size) * 100) / 100,
    perOriginRegion,
    collapseAllPops,
    coldMissP50Ms: p50(coldMs),
    warmElsewhereMissP50Ms: p50(warmMs),
  };
  console.log(
    `tiers (shield ${shield ? "on" : "off"}): Zipf at ${result.pops} POPs at once → ${originRequests} origin requests for ${distinct.size} distinct objects (${result.originPerObject} per object); ` +
      `100 cold requests at every POP → ${collapseAllPops} origin request(s); miss p50 ${result.coldMissP50Ms} ms cold, ${result.warmElsewhereMissP50Ms} ms when another POP had it`,
  );
  console.log(
    `  per origin region: ${Object.entries(perOriginRegion)
      .map(([id, r]) => `${id} ${r.requests} requests for ${r.objects} objects (${r.perObject} per object)`)
      .join("; ")}`,
  );
  return result;
}

interface CompressionResult {
  size: string;
  coding: string;
  encodedBytes: number;
  /** identity bytes / encoded bytes */
  compressionRatio: number;
  /** rps of hits in this coding / rps of identity hits */
  rpsVsIdentity: number;
}

/** Raw bytes on the wire for one coding (no client-side decoding). */
async function wireBytes(url: string, coding: string): Promise<number> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: coding === "identity" ? {} : { "accept-encoding": coding } }, (res) => {
      let n = 0;
      res.on("data", (c: Buffer) => (n += c.byteLength));
      res.on("end", () => resolve(n));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Hits of 16 KiB and 256 KiB text in br and gzip, against identity hits of the same objects. */
async function measureCompression(popUrl: string, report: (name: string, r: LoadResult) => void): Promise<CompressionResult[]> {
  const out: CompressionResult[] = [];
  for (const size of [16 * 1024, 256 * 1024]) {
    const label = `${size / 1024}k`;
    const url = `${popUrl}/gen/${size}?ttl=86400&text=1`;
    const identityBytes = await wireBytes(url, "identity");
    const runs: Record<string, LoadResult[]> = { identity: [], br: [], gzip: [] };
    for (const coding of ["br", "gzip"]) await wireBytes(url, coding); // compressed once, here, before the load
    for (let round = 0; round < rounds; round++) {
      for (const coding of ["identity", "br", "gzip"]) {
        runs[coding].push(await runLoad({ url, connections, durationSeconds, headers: coding === "identity" ? {} : { "accept-encoding": coding } }));
      }
    }
    const identity = medianRun(runs.identity);
    report(`text-${label}-identity`, identity);
    for (const coding of ["br", "gzip"]) {
      const r = medianRun(runs[coding]);
      report(`text-${label}-${coding}`, r);
      const encodedBytes = await wireBytes(url, coding);
      out.push({
        size: label,
        coding,
        encodedBytes,
        compressionRatio: Math.round((identityBytes / encodedBytes) * 100) / 100,
        rpsVsIdentity: Math.round((r.rps / identity.rps) * 100) / 100,
      });
    }
  }
  for (const c of out) console.log(`compression ${c.size} ${c.coding}: ratio ${c.compressionRatio}x, hits at ${c.rpsVsIdentity} of identity hits' rps`);
  return out;
}

interface PurgeResult {
  rounds: number;
  pops: number;
  /** Purge answered → the first request a POP answers with a non-hit was sent, over every POP and round. */
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** Purge accepted → applied at the POP, by the POP's own record (no polling load while it travels). */
  applied?: { p50Ms: number; p95Ms: number; maxMs: number };
}

function percentiles(values: number[]): { p50Ms: number; p95Ms: number; maxMs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { p50Ms: at(0.5), p95Ms: at(0.95), maxMs: sorted[sorted.length - 1] };
}

/**
 * Purge accepted → applied at every POP, read afterwards from each POP's
 * status page (same machine, same clock): nothing polls the POPs while the
 * purge travels, so the figure is the propagation alone. Each POP gets one
 * request before each round, as a busy POP would (it re-arms its held sync).
 */
async function measurePurgeApplied(topology: Topology, rounds = 20): Promise<{ p50Ms: number; p95Ms: number; maxMs: number }> {
  const lags: number[] = [];
  const auth = { authorization: `Bearer ${topology.control.token}` };
  for (let round = 0; round < rounds; round++) {
    // A request to each isolate (the front takes them in turn): busy isolates, each holding a sync. An isolate
    // idle past its hold holds none, and applies a purge at its next request, before answering it.
    for (let turn = 0; turn < Math.max(...topology.pops.map((pop) => pop.isolates)); turn++) {
      await Promise.all(topology.pops.map(async (pop) => (await fetch(`${pop.url}/index.html`)).arrayBuffer()));
    }
    await new Promise((r) => setTimeout(r, 150 + Math.random() * 100));
    const r = await fetch(`${topology.control.url}/v1/purge`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ tags: [`bench-propagation-${Date.now()}-${round}`] }),
    });
    const { result } = (await r.json()) as { result: { seq: number; at: string } };
    const acceptedAt = Date.parse(result.at);
    await new Promise((res) => setTimeout(res, 300));
    // Every isolate of every POP (the front takes a POP's isolates in turn): the purge's lag at each.
    await Promise.all(
      topology.pops.map(async (pop) => {
        const seen = new Map<string, number>();
        for (let tries = 0; tries < 100 && seen.size < pop.isolates; tries++) {
          const status = (await (await fetch(`${pop.url}/__outpost/status`, { headers: auth })).json()) as {
            isolate: string;
            purgeRules: { lastApplied: { seq: number; at: number } | null };
          };
          const applied = status.purgeRules.lastApplied;
          if (applied && applied.seq >= result.seq) seen.set(status.isolate, Math.max(0, applied.at - acceptedAt));
          else await new Promise((res) => setTimeout(res, 50));
        }
        lags.push(...seen.values());
        for (let missing = seen.size; missing < pop.isolates; missing++) lags.push(Date.now() - acceptedAt);
      }),
    );
  }
  const result = percentiles(lags);
  console.log(
    `purge: accepted → applied at each of ${topology.pops.length} POPs (their own record) over ${rounds} rounds: p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, max ${result.maxMs} ms`,
  );
  return result;
}

/** wrangler.toml's METRICS_REPORT_MS: the bench counts the control-plane load a deployment makes (npm start uses 2 s, for a live dashboard). */
const BENCH_METRICS_REPORT_MS = 30_000;

/** The pollers' client: undici's request on kept-alive connections costs the machine less than fetch, and the machine is what the figure shares. */
const POLL_AGENT = new Agent({ connections: 4, keepAliveTimeout: 10_000 });

/** Purge answered → the first request at each POP that no longer hits (when it was sent), each POP polled as clients would. */
async function measurePurge(topology: Topology, rounds = 20): Promise<PurgeResult> {
  const lags: number[] = [];
  const headers = { authorization: `Bearer ${topology.control.token}`, "content-type": "application/json" };
  for (let round = 0; round < rounds; round++) {
    const path = `/gen/256?ttl=600&purge=${Date.now()}-${round}`;
    for (const pop of topology.pops) for (let i = 0; i < 2; i++) await (await fetch(`${pop.url}${path}`)).arrayBuffer();
    const r = await fetch(`${topology.control.url}/v1/purge`, { method: "POST", headers, body: JSON.stringify({ files: [`http://127.0.0.1${path}`] }) });
    await r.arrayBuffer();
    const answered = Date.now();
    await Promise.all(
      topology.pops.map(async (pop) => {
        const deadline = answered + 5000;
        // When the first request that finds the object gone was sent: the POP had the purge by then.
        // (Its answer is a fill, as slow as the shield or origin; that is not the purge's time.)
        let sentAt = Date.now();
        while (sentAt < deadline) {
          const res = await request(`${pop.url}${path}`, { dispatcher: POLL_AGENT });
          await res.body.arrayBuffer();
          if (!POP_HIT.test([res.headers["cache-status"]].flat()[0] ?? "")) break;
          await new Promise((res2) => setTimeout(res2, 5));
          sentAt = Date.now();
        }
        lags.push(Math.max(0, sentAt - answered));
      }),
    );
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 100)); // decorrelate from the refresh phase
  }
  lags.sort((a, b) => a - b);
  const at = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))];
  const result = { rounds, pops: topology.pops.length, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: lags[lags.length - 1] };
  console.log(`purge: answered → first non-hit at each of ${result.pops} POPs over ${rounds} rounds: p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, max ${result.maxMs} ms`);
  return result;
}

/**
 * What a busy POP isolate costs the control plane when nothing changes: its
 * syncs a minute, counted by the control plane, under steady hits.
 */
async function measureSyncLoad(
  topology: Topology,
  seconds = 60,
): Promise<{ pop: string; mode: string; syncsPerMinute: number; reportsPerMinute: number; requestsPerMinute: number }> {
  const pop = popAt(topology, "FRA");
  const headers = { authorization: `Bearer ${topology.control.token}` };
  const syncs = async () => {
    const body = (await (await fetch(`${topology.control.url}/v1/pops`, { headers })).json()) as { pops: { name: string; syncs: number; reports: number; mode: string }[] };
    return body.pops.find((p) => p.name === pop.name) ?? { syncs: 0, reports: 0, mode: "unknown" };
  };
  await (await fetch(`${pop.url}/gen/1024?ttl=86400`)).arrayBuffer();
  const before = await syncs();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await (await fetch(`${pop.url}/gen/1024?ttl=86400`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
  }
  const after = await syncs();
  const perMinute = (n: number) => Math.round((n * 60) / seconds);
  const syncsPerMinute = perMinute(after.syncs - before.syncs);
  const reportsPerMinute = perMinute(after.reports - before.reports);
  const result = { pop: pop.name, mode: after.mode, syncsPerMinute, reportsPerMinute, requestsPerMinute: syncsPerMinute + reportsPerMinute };
  console.log(
    `control-plane load: ${result.pop} (${result.mode}) under steady hits, no changes → ${result.requestsPerMinute} requests a minute (${syncsPerMinute} syncs, ${reportsPerMinute} figure reports at METRICS_REPORT_MS=${BENCH_METRICS_REPORT_MS})`,
  );
  return result;
}

/** Loads purge rules through the control API (tags no stored object carries): `calls` × 100 targets. */
async function loadPurgeRules(topology: Topology, calls: number): Promise<number> {
  const headers = { authorization: `Bearer ${topology.control.token}`, "content-type": "application/json" };
  for (let call = 0; call < calls; call++) {
    const tags = Array.from({ length: 100 }, (_, i) => `bench-rule-${call}-${i}`);
    const r = await fetch(`${topology.control.url}/v1/purge`, { method: "POST", headers, body: JSON.stringify({ tags }) });
    if (!r.ok) throw new Error(`loading purge rules: ${r.status} ${await r.text()}`);
  }
  return calls * 100;
}

/** One measurement's figures (--only), beside the full results: .bench/results-<name>.json. */
/** Hits / bare worker under the workerd binary (bench-raw-workerd.ts), on the bundle the network built. */
async function rawWorkerdHits(): Promise<RawWorkerdHits> {
  const bundle = await benchBundle();
  const hits = await measureRawWorkerdHits({
    bundle,
    bareScript: BARE_WORKER,
    outpostConfig: (url) => ({
      origins: [{ id: "eu-central", url, region: "eu-central", latitude: 50.1109, longitude: 8.6821 }],
      sites: [{ id: "bench", hosts: ["127.0.0.1"], origins: ["eu-central"] }],
    }),
    connections,
    durationSeconds,
    rounds,
  });
  console.log("\nhits / bare worker under raw workerd (no Miniflare, no front; target ≥ 0.8)");
  for (const s of hits.sizes) console.log(`  ${String(s.bytes).padStart(6)} B  hit ${s.hitRps} rps / bare ${s.bareRps} rps = ${s.hitOverBare}`);
  return hits;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

function printColdMisses(title: string, coldMisses: MissTiming[]): void {
  console.log(`\n${title}`);
  for (const m of coldMisses) {
    console.log(
      `  ${String(m.bytes).padStart(9)} B  first byte ${m.throughShield.firstByteMs} / ${m.direct.firstByteMs} ms (+${r2(m.throughShield.firstByteMs - m.direct.firstByteMs)})  last byte ${m.throughShield.lastByteMs} / ${m.direct.lastByteMs} ms (${r2(m.throughShield.lastByteMs / m.direct.lastByteMs)}x); the same hops, nothing stored: first ${m.notStored.firstByteMs}, last ${m.notStored.lastByteMs} ms (stored / not ${r2(m.throughShield.lastByteMs / m.notStored.lastByteMs)}x); bare pass-through workers on the same hops: first ${m.bareHops.firstByteMs}, last ${m.bareHops.lastByteMs} ms (${r2(m.bareHops.lastByteMs / m.direct.lastByteMs)}x direct)`,
    );
    if (m.sqliteInsertMs !== undefined) {
      // The shield's thread both passes the body on and stores it: the two together are its floor.
      const floor = m.bareHops.lastByteMs + m.sqliteInsertMs;
      console.log(
        `             the shard's SQLite alone, inserting it in 1 MiB rows: ${m.sqliteInsertMs} ms; bare hops + that: ${r2(floor)} ms (${r2(floor / m.direct.lastByteMs)}x direct; stored / this ${r2(m.throughShield.lastByteMs / floor)}x)`,
      );
    }
    const cpu = m.cpuMs;
    if (cpu) {
      console.log(
        `             CPU a miss, the tiers' Worker processes (POP, control plane; not the Cache API's store): stored ${cpu.throughShield} ms (${r2(cpu.throughShield / cpu.bareHops)}x bare), nothing stored ${cpu.notStored} ms (${r2(cpu.notStored / cpu.bareHops)}x bare), bare ${cpu.bareHops} ms`,
      );
    }
  }
}

/** Cold misses under the workerd binary (bench-raw-workerd-miss.ts), from FRA's nearest origin of the network, with its shield settings. */
async function rawWorkerdMisses(topology: Topology, shield: NetworkConfig["shield"]): Promise<MissTiming[]> {
  const origin = originNamed(topology, "eu-central");
  const fra = popAt(topology, "FRA");
  return measureRawWorkerdMisses({
    bundle: await benchBundle(),
    originUrl: origin.url,
    outpostConfig: oneOriginConfig(origin, shield),
    cf: { colo: fra.colo, country: fra.country, continent: fra.continent, latitude: String(fra.latitude), longitude: String(fra.longitude) },
  });
}

/** What the raw-workerd miss benches run: one site, before one origin, with these shield settings. */
function oneOriginConfig(origin: { id: string; url: string; region: string; latitude: number; longitude: number }, shield: object | undefined): unknown {
  return {
    origins: [{ id: origin.id, url: origin.url, region: origin.region, latitude: origin.latitude, longitude: origin.longitude }],
    sites: [{ id: "bench", hosts: ["127.0.0.1"], origins: [origin.id] }],
    ...(shield ? { shield } : {}),
  };
}

/** The miss path and the bytes (bench-miss-path.ts), printed as ratios. */
async function measureMissPath(topology: Topology, shield: NetworkConfig["shield"]) {
  const coldMisses = await measureColdMisses(topology);
  printColdMisses("cold miss through POP and shield / straight from the origin (loopback, Miniflare)", coldMisses);
  const rawWorkerdColdMisses = await rawWorkerdMisses(topology, shield);
  printColdMisses("the same under raw workerd (no Miniflare; the Cache API stores: workerd-cache.ts, a process apart)", rawWorkerdColdMisses);
  const variants = await measureVariantFloor();
  console.log("stored variants / their coding's floor (brotli 11, gzip 9, zstd 19: zstd under workerd, bytes only), swagger-ui-dist; first answer: the quick one meanwhile");
  const cpu = (ms: number | undefined) => (ms === undefined ? "" : `, ${ms} ms`);
  for (const f of variants) {
    const each = f.variants.map(
      (v) =>
        `${v.coding} ${v.settled.overFloor} (${v.settled.bytes} B${cpu(v.settled.cpuMs)}${v.firstAnswer ? `; first answer ${v.firstAnswer.overFloor}${cpu(v.firstAnswer.cpuMs)}` : ""})`,
    );
    console.log(`  ${f.file} (${f.bytes} B; br 11 ${f.floors.br.bytes} B in ${f.floors.br.cpuMs} ms)  ${each.join("  ")}  gzip / br 11 ${f.gzipOverBrotliFloor}`);
  }
  const codingHits = await measureCodingHits(topology);
  console.log(
    `hits on ${codingHits.bytes} B of text, ms: identity ${codingHits.ms.identity}, br ${codingHits.ms.br} (${r2(codingHits.ms.br / codingHits.ms.identity)}x), gzip ${codingHits.ms.gzip} (${r2(codingHits.ms.gzip / codingHits.ms.identity)}x)`,
  );
  const seeks = await measureSeeks(topology);
  console.log(`seeks in ${seeks.bytes} B held by the Cache API, 100 bytes, ms: at its start ${seeks.startMs}, at its end ${seeks.endMs} (end / start ${seeks.endOverStart}x)`);
  const largeCollapse = await measureLargeCollapse(topology);
  console.log(
    `a cold ${largeCollapse.bytes} B object, origin fetches: ${largeCollapse.onePop.clients} clients at once at FRA: ${fetchesText(largeCollapse.onePop.originFetches)}; one client at each of ${largeCollapse.everyPop.clients} POPs at once: ${fetchesText(largeCollapse.everyPop.originFetches)}`,
  );
  return { coldMisses, rawWorkerdColdMisses, variants, codingHits, seeks, largeCollapse };
}

function writePartial(name: string, figures: Record<string, unknown>): void {
  const out = values.out!.replace(/\.json$/, `-${name}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), ...figures }, null, 2)}\n`);
  console.log(`\nwritten to ${out}`);
}

/** `--only miss-hops`: where a cold miss's time goes, hop by hop, off the wire (bench-miss-hops.ts), before the network's first origin. */
async function missHopsOnly(): Promise<void> {
  const origin = await spawnOrigin({ id: "eu-central", region: "eu-central" }, await freePort(), await freePort());
  const originUrl = `http://127.0.0.1:${origin.port}`;
  try {
    const hops = await measureMissHops({
      bundle: await benchBundle(),
      originUrl,
      outpostConfig: oneOriginConfig({ id: "eu-central", url: originUrl, region: "eu-central", latitude: 50.1, longitude: 8.7 }, { enabled: true }),
      cf: { colo: "FRA", country: "DE", continent: "EU", latitude: "50.1", longitude: "8.7" },
      sizes: [64 * 1024, 1024 * 1024, 30_000_000],
      rounds: 9,
      dumpFile: join(ROOT, ".bench", "miss-hops.tcpdump.txt"),
    });
    if ("unavailable" in hops) return console.log(`miss-hops skipped: ${hops.unavailable}`);
    printMissHops(hops);
    writePartial("miss-hops", { missHops: hops });
  } finally {
    origin.child.kill();
  }
}

/** `--only purge`: the propagation figures alone, on the network given by --network. */
async function purgeOnly(config: ReturnType<typeof loadNetworkConfig>): Promise<void> {
  const network = await startNetwork({ config, bundle: await benchBundle() });
  try {
    const applied = await measurePurgeApplied(network.topology);
    const firstNonHit = await measurePurge(network.topology);
    writePartial("purge", { network: values.network ?? "outpost.config.json", purge: { ...firstNonHit, applied } });
  } finally {
    await network.stop();
  }
}

async function main(): Promise<void> {
  const config = loadNetworkConfig(values.network ? join(process.cwd(), values.network) : join(ROOT, "outpost.config.json"));
  config.basePort = 0;
  if (values.only === "purge") return purgeOnly(config);
  if (values.only === "peers") {
    const network = await startNetwork({ config, bundle: await benchBundle(), metricsReportMs: BENCH_METRICS_REPORT_MS });
    try {
      const fra = popAt(network.topology, "FRA");
      const origin = originNamed(network.topology, "eu-central");
      const peers = await measurePeers(fra.url, origin.url, connections, durationSeconds, rounds);
      writePartial("peers", { loadGenerator: LOAD_GENERATOR, peers });
    } finally {
      await network.stop();
    }
    return;
  }
  if (values.only === "profile") {
    const profile = await profileInProcess();
    writePartial("profile", { profile });
    return;
  }
  if (values.only === "in-process") {
    const inProcess = await measureInProcess(rounds);
    writePartial("in-process", { inProcess });
    return;
  }
  if (values.only === "tiers") {
    const network = await startNetwork({ config, bundle: await benchBundle(), metricsReportMs: BENCH_METRICS_REPORT_MS });
    try {
      writePartial("tiers", { tiers: [await measureTiers(network.topology, true)] });
    } finally {
      await network.stop();
    }
    return;
  }
  if (values.only === "bounds") {
    const urlFlood = await measureUrlFlood();
    const network = await startNetwork({ config, bundle: await benchBundle(), metricsReportMs: BENCH_METRICS_REPORT_MS });
    try {
      const slowClients = await measureSlowClients(network.topology);
      writePartial("bounds", { urlFlood, slowClients });
    } finally {
      await network.stop();
    }
    return;
  }
  if (values.only === "scale") {
    const network = await simulateNetwork();
    console.log(`scale: ${network.isolates} isolates in ${network.colos} colos, held syncs streamed by ${network.relays} regional relays, one global object`);
    console.log(`  steady: ${network.steadyPerSecond} requests/s at the global object (bar: ≤ 100)`);
    console.log(`  each second after a purge: ${network.afterPurgePerSecond.join(", ")} requests at the global object (bar: ≤ 1,000)`);
    const relay = network.busiestRelay;
    console.log(`  busiest relay (${relay.name}): ${relay.perSecond} requests/s steady, busiest second ${relay.peak}, the purge's seconds included (bar: ≤ 500)`);
    const reachLine = (reach: PurgeReach) => {
      const { modelled, asRun } = reach;
      const byRelay = Object.entries(reach.modelledP95ByRelay)
        .map(([name, ms]) => `${name} ${ms}`)
        .join(", ");
      return [
        `modelled p50 ${modelled.p50} ms, p95 ${modelled.p95} ms, max ${modelled.max} ms (bar: p95 ≤ 150; the global object's and relays' own time as run, each trip at its modelled length)`,
        `    p95 by relay: ${byRelay}; ${reach.heldAtPurge} of ${network.isolates} isolates held a sync when it was accepted (the rest heard at their next request)`,
        `    as run, every isolate's CPU on this one thread: p50 ${asRun.p50} ms, p95 ${asRun.p95} ms, max ${asRun.max} ms (${asRun.reached} isolates)`,
      ].join("\n");
    };
    console.log(`  purge reached ${network.purge.modelled.reached} isolates: ${reachLine(network.purge)}`);
    console.log(`    this thread's timers ran up to ${network.loopDelayP99Ms} ms late (p99) while it travelled`);
    const outage = network.outage;
    console.log(
      `  the global object down ${outage.downMs / 1000} s: peak ${outage.peakDuring} requests/s at it while down, ${outage.peakReconnecting} reconnecting (bar: ≤ 2× steady)`,
    );
    console.log(`  client requests that waited on the control plane after their first: ${outage.requestsThatWaited} (longest ${outage.longestWaitMs} ms)`);
    console.log(`  a purge 30 s after it came back reached ${outage.purgeAfterReturn.modelled.reached} isolates: ${reachLine(outage.purgeAfterReturn)}`);
    // The network's 10,000 isolates go before the catch-up's 800,000 rules are built.
    (globalThis as { gc?: () => void }).gc?.();
    const scale = await measureScale();
    console.log(
      `  a new isolate after ${scale.catchUp.rules} purges: ${scale.catchUp.answers} answers, ${(scale.catchUp.bytes / 2 ** 20).toFixed(2)} MiB, the largest ${(scale.catchUp.largest / 2 ** 20).toFixed(2)} MiB (bar: one answer ≤ 1 MiB)`,
    );
    console.log(
      `    folded in ${Math.round(scale.catchUp.foldMs)} ms (closed hours included), applied at the edge in ${Math.round(scale.catchUp.applyMs)} ms; purged tags missed: ${scale.catchUp.missed}; never-purged URLs matching: ${(scale.catchUp.falseMatchShare * 100).toFixed(3)} %; edge memory ${(scale.catchUp.edgeBytes / 2 ** 20).toFixed(1)} MiB`,
    );
    const deploy = scale.deploy;
    console.log(
      `  a deploy (${deploy.isolates} new isolates in ${deploy.colos} colos within 30 s): ${deploy.fromGlobal} catch-ups from the global object (bar: one per relay or colo), ${(deploy.bytesFromGlobal / 2 ** 20).toFixed(1)} MiB; caught up p50 ${deploy.caughtUpMs.p50} ms, p95 ${deploy.caughtUpMs.p95} ms (the simulation's own CPU included)`,
    );
    writePartial("scale", { network, scale });
    process.exit(0);
  }
  if (values.only === "raw-workerd") {
    const rawWorkerd = await rawWorkerdHits();
    writePartial("raw-workerd", { rawWorkerd });
    return;
  }
  if (values.only === "miss-path") {
    const network = await startNetwork({ config, bundle: await benchBundle(), metricsReportMs: BENCH_METRICS_REPORT_MS });
    try {
      const missPath = await measureMissPath(network.topology, config.shield);
      writePartial("miss-path", { missPath });
    } finally {
      await network.stop();
    }
    return;
  }
  if (values.only === "miss-hops") return missHopsOnly();
  if (values.only === "sync-load") {
    const network = await startNetwork({ config, bundle: await benchBundle(), metricsReportMs: BENCH_METRICS_REPORT_MS });
    try {
      await measureSyncLoad(network.topology);
    } finally {
      await network.stop();
    }
    return;
  }
  console.log(
    `bench: ${connections} connections, ${durationSeconds} s per run, load from a separate process (${LOAD_GENERATOR}${LOAD_GENERATOR === "autocannon" ? "; install wrk for large or compressed bodies" : ""})`,
  );
  const network = await startNetwork({ config, bundle: await benchBundle(), metricsReportMs: BENCH_METRICS_REPORT_MS });
  const fra = popAt(network.topology, "FRA");
  // Behind the same front as the POPs (network.ts), so both pay the same launcher.
  const bareCf = { colo: "FRA", country: "DE", continent: "EU", latitude: "50.0379", longitude: "8.5622" };
  const bareIsolates = Array.from({ length: fra.isolates }, (_, n) => (n === 0 ? "bare" : `bare-${n + 1}`));
  const bare = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    logRequests: MINIFLARE_LOG_REQUESTS,
    cf: bareCf,
    // As many bare isolates as FRA has, in one workerd like FRA's, taken in turn by the same front.
    workers: [
      ...bareIsolates.map((name) => ({ name, modules: true, script: BARE_WORKER, compatibilityDate: "2026-04-26", compatibilityFlags: ["nodejs_compat"] })),
      frontWorker(bareIsolates, bareCf, 0),
    ],
  });
  await bare.ready;
  const bareUrl = (await bare.unsafeGetDirectURL(FRONT_WORKER)).toString().replace(/\/$/, "");
  const results: Record<string, LoadResult> = {};
  let collapse: CollapseResult[] = [];
  let zipf: ZipfResult[] = [];
  let purge: PurgeResult | undefined;
  let compression: CompressionResult[] = [];
  let purgeScale: PurgeScaleResult[] = [];
  const tiers: TierResult[] = [];
  let syncLoad: Awaited<ReturnType<typeof measureSyncLoad>> | undefined;
  let rulesLoaded = 0;
  let peers: Awaited<ReturnType<typeof measurePeers>> | undefined;
  let slowClients: Awaited<ReturnType<typeof measureSlowClients>>;
  let missPath: Awaited<ReturnType<typeof measureMissPath>> | undefined;
  const once = (url: string, idReplacement = false) => runLoad({ url, connections, durationSeconds, idReplacement });
  const report = (name: string, r: LoadResult) => {
    results[name] = r;
    console.log(`${name.padEnd(16)} ${fmt(r)}`);
  };

  try {
    // Warm-up, not reported: the first seconds of a fresh isolate (JIT, first syncs, first probes)
    // would otherwise count against whichever run comes first.
    for (const size of SIZES) await (await fetch(`${fra.url}/gen/${size}?ttl=86400`)).arrayBuffer();
    await once(`${bareUrl}/1024`);
    await once(`${fra.url}/gen/1024?ttl=86400`);
    for (const size of values.only === "hits" ? SIZES.slice(0, 2) : SIZES) {
      const label = `${size / 1024}k`;
      const path = `${fra.url}/gen/${size}?ttl=86400`;
      await (await fetch(path)).arrayBuffer();
      // Interleaved rounds, median of each: this machine's noise is larger than the differences we look for.
      const bareRuns: LoadResult[] = [];
      const hitRuns: LoadResult[] = [];
      const headerRuns: LoadResult[] = [];
      for (let round = 0; round < rounds; round++) {
        bareRuns.push(await once(`${bareUrl}/${size}`));
        hitRuns.push(await once(path));
        headerRuns.push(await once(`${bareUrl}/${size}?headers`));
      }
      report(`bare-${label}`, medianRun(bareRuns));
      if (headerRuns.length) report(`bare-hdrs-${label}`, medianRun(headerRuns));
      report(`hit-${label}`, medianRun(hitRuns));
    }
    if (values.only === "hits") {
      for (const size of ["1k", "16k"])
        console.log(
          `hit-${size}/bare-${size} ${ratioOf(results, `hit-${size}`, `bare-${size}`)}  hit-${size}/bare-hdrs-${size} ${ratioOf(results, `hit-${size}`, `bare-hdrs-${size}`)}`,
        );
      return;
    }
    report("miss-16k", await once(`${fra.url}/gen/16384?ttl=86400&u=[<id>]`, true));
    compression = await measureCompression(fra.url, report);
    collapse = await measureCollapse(network.topology);
    zipf = await measureZipf(network.topology);
    purgeScale = measurePurgeScale();
    // The hit path and propagation with rules in force, against the same hit just before they came
    // (control API rate limit: 600 calls a minute).
    const plainRuns: LoadResult[] = [];
    for (let round = 0; round < rounds; round++) plainRuns.push(await once(`${fra.url}/gen/1024?ttl=86400`));
    report("hit-1k-no-rules", medianRun(plainRuns));
    rulesLoaded = await loadPurgeRules(network.topology, 100);
    await new Promise((r) => setTimeout(r, 500));
    const ruleRuns: LoadResult[] = [];
    for (let round = 0; round < rounds; round++) ruleRuns.push(await once(`${fra.url}/gen/1024?ttl=86400`));
    report(`hit-1k-${rulesLoaded}rules`, medianRun(ruleRuns));
    const applied = await measurePurgeApplied(network.topology);
    purge = { ...(await measurePurge(network.topology)), applied };
    syncLoad = await measureSyncLoad(network.topology);
    if (network.topology.shields.length > 0) tiers.push(await measureTiers(network.topology, true));
    slowClients = await measureSlowClients(network.topology);
    missPath = await measureMissPath(network.topology, config.shield);
    if (values.peers) {
      const origin = originNamed(network.topology, "eu-central");
      peers = await measurePeers(fra.url, origin.url, connections, durationSeconds, rounds);
    }
  } finally {
    await bare.dispose();
    await network.stop();
  }
  // The same tier workload without the shield, on a network of its own.
  const direct = await startNetwork({ config: { ...config, shield: { ...config.shield!, enabled: false } }, bundle: await benchBundle() });
  try {
    tiers.push(await measureTiers(direct.topology, false));
  } finally {
    await direct.stop();
  }

  // The hit path under the workerd binary, without Miniflare's per-request cost.
  const rawWorkerd = await rawWorkerdHits();
  // The pipeline's own cost inside workerd, with nothing else running.
  const inProcess = await measureInProcess(rounds);
  const urlFlood = await measureUrlFlood();

  const ratio = (a: string, b: string) => Math.round((results[a].rps / results[b].rps) * 100) / 100;
  const ratios = {
    "hit-1k/bare-1k": ratio("hit-1k", "bare-1k"),
    "hit-16k/bare-16k": ratio("hit-16k", "bare-16k"),
    "hit-256k/bare-256k": ratio("hit-256k", "bare-256k"),
    "hit-1k/bare-hdrs-1k": ratio("hit-1k", "bare-hdrs-1k"),
    "hit-16k/bare-hdrs-16k": ratio("hit-16k", "bare-hdrs-16k"),
    "hit-256k/bare-hdrs-256k": ratio("hit-256k", "bare-hdrs-256k"),
    "miss-16k/bare-16k": ratio("miss-16k", "bare-16k"),
    ...Object.fromEntries(compression.filter((c) => c.size === "256k").map((c) => [`text-256k-${c.coding}/text-256k-identity`, c.rpsVsIdentity])),
    ...(rulesLoaded ? { [`hit-1k-${rulesLoaded}rules/hit-1k-no-rules`]: ratio(`hit-1k-${rulesLoaded}rules`, "hit-1k-no-rules") } : {}),
  };
  console.log("\nratios (target: hit ≥ 0.8 of bare)");
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(20)} ${v}`);

  const written = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    options: {
      connections,
      durationSeconds,
      rounds,
      launcher: "miniflare 4 (one instance per POP)",
      loadGenerator: LOAD_GENERATOR === "wrk" ? "wrk, separate process" : "autocannon 8, separate process",
    },
    results,
    ratios,
    compression,
    collapse,
    zipf,
    purge: { ...purge, rulesInForce: rulesLoaded },
    syncLoad,
    purgeScale,
    tiers,
    inProcess,
    rawWorkerd,
    bounds: { urlFlood, slowClients },
    missPath,
    ...(peers ? { peers } : {}),
  };
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(written, null, 2)}\n`);
  console.log(`\nwritten to ${values.out}`);
}

main().then(
  // Ended: a handle some library left open (once, after a miss-path run, nothing but esbuild's
  // service was left, and the process sat idle for 13 minutes) must not keep the bench running.
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
