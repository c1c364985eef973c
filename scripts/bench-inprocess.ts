/**
 * The pipeline's own cost, measured inside workerd: scripts/bench-worker.ts
 * drives the POP pipeline N times per call, with no socket and no launcher,
 * and this side times each call (inside workerd the clock stands still
 * while code runs; one busy isolate on one thread makes wall time its CPU
 * time) minus a call of N = 0. Reports microseconds per request, the median
 * over rounds, beside the floor: the same response built from bytes in memory.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Miniflare } from "miniflare";
import { buildBundle, MINIFLARE_LOG_REQUESTS, ROOT } from "./network";
import { freePort } from "./free-port";
import { median } from "./median";

export interface InProcessResult {
  /** Microseconds per request, median over rounds. */
  microseconds: Record<string, number>;
  /** Hit cost over the floor's (the goal: at most 2 at 1 KiB and 16 KiB). */
  ratios: Record<string, number>;
  rounds: number;
}

const BENCH_CONFIG = {
  origins: [{ id: "stub", url: "http://origin.stub", region: "eu-central" }],
  sites: [{ id: "bench", hosts: ["bench.test"], origins: ["stub"] }],
  shield: { enabled: false },
};

/** Requests per timed call, by case: enough that a call takes well over the clock's resolution. */
const CALLS: Record<string, number> = {
  "floor-1k": 4000,
  "floor-16k": 4000,
  "floor-256k": 400,
  "hit-1k": 4000,
  "hit-16k": 4000,
  "hit-1k-cf": 4000,
  "hit-256k": 400,
  "hit-br-16k": 4000,
  "hit-gzip-16k": 4000,
  "hit-br-256k": 1000,
  "hit-gzip-256k": 1000,
  "stale-1k": 1000,
  "miss-16k": 300,
  "hit-1k-10k-rules": 4000,
  "hit-1k-100k-rules": 4000,
};

/** The bench worker, bundled as wrangler bundles the product (its own config: no bindings to satisfy). */
async function bundle(): Promise<string> {
  const dir = join(ROOT, ".outpost", "bench-worker-build");
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "wrangler.toml");
  // The product's bundling choice (keep_names) carries over: it changes what a closure costs.
  const keepNames = /^keep_names\s*=\s*(true|false)/m.exec(readFileSync(join(ROOT, "wrangler.toml"), "utf8"))?.[1];
  writeFileSync(
    config,
    `name = "outpost-bench-inprocess"\nmain = "${join(ROOT, "scripts", "bench-worker.ts")}"\ncompatibility_date = "2026-04-26"\ncompatibility_flags = ["nodejs_compat"]\n${keepNames ? `keep_names = ${keepNames}\n` : ""}`,
  );
  const built = await buildBundle(join(dir, "out"), config);
  return built.replace(/worker\.js$/, "bench-worker.js");
}

/** The bench worker under Miniflare; `inspectorPort` opens workerd's inspector for profiling. */
export async function startBenchWorker(inspectorPort?: number): Promise<Miniflare> {
  return new Miniflare({
    logRequests: MINIFLARE_LOG_REQUESTS,
    modules: true,
    scriptPath: await bundle(),
    compatibilityDate: "2026-04-26",
    compatibilityFlags: ["nodejs_compat"],
    ...(inspectorPort !== undefined ? { inspectorPort } : {}),
    bindings: { OUTPOST_CONFIG: JSON.stringify(BENCH_CONFIG) },
  });
}

export async function measureInProcess(rounds = 5, only?: string[]): Promise<InProcessResult> {
  const mf = await startBenchWorker();
  const call = async (name: string, n: number): Promise<number> => {
    const started = performance.now();
    const response = await mf.dispatchFetch(`http://bench/run?case=${name}&n=${n}`);
    const body = (await response.json()) as { error?: string };
    if (!response.ok) throw new Error(`${name}: ${body.error}`);
    return performance.now() - started;
  };
  const microseconds: Record<string, number> = {};
  try {
    const names = Object.keys(CALLS).filter((name) => !only || only.includes(name));
    for (const name of names) await call(name, 0); // warm: stored, variants made, rules applied
    for (const name of names) await call(name, Math.min(500, CALLS[name])); // JIT
    const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
    // Rounds interleave the cases, so that the machine's drift spreads over all of them.
    for (let round = 0; round < rounds; round++) {
      for (const name of names) {
        const empty = await call(name, 0);
        const full = await call(name, CALLS[name]);
        samples[name].push(((full - empty) * 1000) / CALLS[name]);
      }
    }
    for (const name of names) microseconds[name] = Math.round(median(samples[name]) * 10) / 10;
  } finally {
    await mf.dispose();
  }
  const ratio = (a: string, b: string) => (microseconds[a] && microseconds[b] ? Math.round((microseconds[a] / microseconds[b]) * 100) / 100 : NaN);
  const ratios = {
    "hit-1k/floor-1k": ratio("hit-1k", "floor-1k"),
    "hit-16k/floor-16k": ratio("hit-16k", "floor-16k"),
    "hit-256k/floor-256k": ratio("hit-256k", "floor-256k"),
    "hit-br-256k/hit-256k": ratio("hit-br-256k", "hit-256k"),
    "hit-1k-100k-rules/hit-1k": ratio("hit-1k-100k-rules", "hit-1k"),
    "hit-1k-cf/hit-1k": ratio("hit-1k-cf", "hit-1k"),
  };
  for (const [name, us] of Object.entries(microseconds)) console.log(`in-process ${name.padEnd(20)} ${String(us).padStart(8)} µs/request`);
  for (const [name, r] of Object.entries(ratios)) console.log(`in-process ${name.padEnd(26)} ${r}`);
  return { microseconds, ratios, rounds };
}

/** What the V8 inspector says of the bench isolate: where a hit's time goes, and the heap after a Zipf run. */
export interface ProfileResult {
  /** Self time by function over a run of 1 KiB hits, the largest first (share of samples). */
  hitProfile: { function: string; share: number }[];
  /** Time in each pipeline state and what it calls (inclusive), share of the hit loop's samples. */
  hitStates: { state: string; share: number }[];
  /** The isolate's heap after 100,000 Zipf requests over 100,000 objects (garbage not yet collected included), bytes. */
  heapAfterZipf: { usedBytes: number; memoryTierBound: number; requests: number };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }[];
  samples?: number[];
}

/** The hit path's states and the steps inside them, by the names the pipeline gives them. */
const HIT_STATES = [
  "handleEdgeRequest",
  "recv",
  "lookupMemory",
  "hitOrStale",
  "reuseDecision",
  "deliverStored",
  "chooseEncoding",
  "deliverTo",
  "deliver",
  "finalHeaders",
  "recordResponse",
];

/** Samples under each named function, callees included (a function's nested calls of itself counted once). */
function inclusiveShares(profile: CpuProfile, names: readonly string[]): { state: string; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>(names.map((n) => [n, 0]));
  const walk = (id: number, open: Set<string>): number => {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    const entering = totals.has(name) && !open.has(name);
    if (entering) open.add(name);
    let hits = node.hitCount ?? 0;
    for (const child of node.children ?? []) hits += walk(child, open);
    if (entering) {
      open.delete(name);
      totals.set(name, totals.get(name)! + hits);
    }
    return hits;
  };
  const all = walk(profile.nodes[0].id, new Set());
  return names.map((state) => ({ state, share: Math.round((totals.get(state)! / all) * 1000) / 1000 }));
}

/** A minimal Chrome DevTools Protocol session over undici's WebSocket. */
export async function inspect(port: number): Promise<{ send: <T>(method: string, params?: object) => Promise<T>; close: () => void }> {
  const { WebSocket } = await import("undici");
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = targets.find((t) => t.webSocketDebuggerUrl.endsWith("/core:user:")) ?? targets[0];
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let id = 0;
  const waiting = new Map<number, (value: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  return {
    // workerd answers only some methods (others are echoed, or not answered): each call gives up after 10 s.
    send: <T>(method: string, params: object = {}) =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 10_000);
        waiting.set(++id, (value) => {
          clearTimeout(timer);
          resolve(value as T);
        });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

export async function profileInProcess(): Promise<ProfileResult> {
  const port = await freePort();
  const mf = await startBenchWorker(port);
  try {
    const run = async (name: string, n: number) => {
      const response = await mf.dispatchFetch(`http://bench/run?case=${name}&n=${n}`);
      await response.arrayBuffer();
    };
    await run("hit-1k", 0);
    await run("hit-1k", 2000);
    const session = await inspect(port);
    try {
      await session.send("Profiler.enable");
      await session.send("Profiler.start");
      await run("hit-1k", 40_000);
      const { profile } = await session.send<{ profile: CpuProfile }>("Profiler.stop");
      const self = new Map<string, number>();
      let total = 0;
      for (const node of profile.nodes) {
        const hits = node.hitCount ?? 0;
        if (hits === 0) continue;
        const name = `${node.callFrame.functionName || "(anonymous)"}${node.callFrame.url ? ` ${node.callFrame.url.split("/").pop()}:${node.callFrame.lineNumber + 1}` : ""}`;
        self.set(name, (self.get(name) ?? 0) + hits);
        total += hits;
      }
      const hitProfile = [...self.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([fn, hits]) => ({ function: fn, share: Math.round((hits / total) * 1000) / 1000 }));
      const hitStates = inclusiveShares(profile, HIT_STATES);
      const requests = 100_000;
      for (let done = 0; done < requests; done += 5000) await run("zipf-100k", 5000);
      // (workerd's inspector does not answer HeapProfiler.collectGarbage: this is the heap as it stands, garbage included.)
      const heap = await session.send<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
      const result = { hitProfile, hitStates, heapAfterZipf: { usedBytes: heap.usedSize, memoryTierBound: 64 * 1024 * 1024, requests } };
      for (const p of hitProfile) console.log(`profile hit-1k ${(p.share * 100).toFixed(1).padStart(5)} %  ${p.function}`);
      for (const p of hitStates) console.log(`profile hit-1k state ${(p.share * 100).toFixed(1).padStart(5)} %  ${p.state} (with what it calls)`);
      console.log(
        `heap after ${requests} Zipf requests over 100,000 objects: ${Math.round(heap.usedSize / 2 ** 20)} MiB used (memory tier bound ${result.heapAfterZipf.memoryTierBound / 2 ** 20} MiB)`,
      );
      return result;
    } finally {
      session.close();
    }
  } finally {
    await mf.dispose();
  }
}
