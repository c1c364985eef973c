/**
 * Memory bounds under hostile traffic (`npm run bench -- --only bounds`):
 * - a flood of distinct 12 KB URLs through the pipeline inside workerd: the
 *   isolate's heap grows by no more than the memory tier's bound and a margin;
 * - three clients reading 64 MiB objects at 50 KB/s from a POP: the POP's
 *   workerd process grows by no more than 64 MiB (a fill is paced by its
 *   slower reader, not buffered for it).
 */
import { CacheSchema } from "../common/cache-config";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { freePort } from "./free-port";
import { inspect, startBenchWorker } from "./bench-inprocess";
import { popAt, type Topology } from "./network";

const MiB = 1024 * 1024;

export interface UrlFloodResult {
  requests: number;
  urlBytes: number;
  heapBeforeBytes: number;
  heapAfterBytes: number;
  growthBytes: number;
  /** The heap's live objects after a full collection (a heap snapshot collects first), before and after. */
  retainedBeforeBytes: number;
  retainedAfterBytes: number;
  retainedGrowthBytes: number;
  memoryTierBound: number;
  /** The goal: retained growth ≤ memory tier bound + 16 MiB. */
  withinBound: boolean;
}

/** `requests` distinct 12 KB URLs with one-byte bodies through the pipeline; the isolate's heap before and after. */
export async function measureUrlFlood(requests = 100_000): Promise<UrlFloodResult> {
  const port = await freePort();
  const mf = await startBenchWorker(port);
  try {
    const run = async (n: number) => (await mf.dispatchFetch(`http://bench/run?case=long-urls&n=${n}`)).arrayBuffer();
    await run(0);
    const session = await inspect(port);
    try {
      const heap = () => session.send<{ usedSize: number }>("Runtime.getHeapUsage").then((h) => h.usedSize);
      // workerd's inspector answers no HeapProfiler.collectGarbage, but a heap snapshot collects
      // garbage before it walks the heap: the usage right after it is what is really kept.
      const retained = async () => {
        await session.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
        return heap();
      };
      const retainedBefore = await retained();
      const before = await heap();
      for (let done = 0; done < requests; done += 2000) await run(Math.min(2000, requests - done));
      const after = await heap();
      const retainedAfter = await retained();
      const memoryTierBound = CacheSchema.parse({}).memoryBytes;
      const growth = after - before;
      const retainedGrowth = retainedAfter - retainedBefore;
      const result = {
        requests,
        urlBytes: 12 * 1024,
        heapBeforeBytes: before,
        heapAfterBytes: after,
        growthBytes: growth,
        retainedBeforeBytes: retainedBefore,
        retainedAfterBytes: retainedAfter,
        retainedGrowthBytes: retainedGrowth,
        memoryTierBound,
        withinBound: retainedGrowth <= memoryTierBound + 16 * MiB,
      };
      const mib = (bytes: number) => Math.round(bytes / MiB);
      console.log(
        `url flood: ${requests} distinct 12 KB URLs: kept ${mib(retainedBefore)} → ${mib(retainedAfter)} MiB after collection (growth ${mib(retainedGrowth)} MiB; bound ${memoryTierBound / MiB} + 16 MiB); heap as it stood ${mib(before)} → ${mib(after)} MiB, garbage included`,
      );
      return result;
    } finally {
      session.close();
    }
  } finally {
    await mf.dispose();
  }
}

export interface SlowClientsResult {
  clients: number;
  objectBytes: number;
  clientBytesPerSecond: number;
  seconds: number;
  rssBeforeBytes: number;
  rssPeakBytes: number;
  growthBytes: number;
  /** Bytes the clients had received in all when the run ended. */
  receivedBytes: number;
  /** The goal: growth ≤ 64 MiB. */
  withinBound: boolean;
}

/** The process listening on a loopback port (the POP's workerd), from ss. */
function listenerPid(port: number): number | undefined {
  try {
    const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
    const match = /pid=(\d+)/.exec(out);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** One client reading at `bytesPerSecond` for `seconds`, then hanging up; the bytes it got. */
function slowClient(url: string, bytesPerSecond: number, seconds: number): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    const started = Date.now();
    const req = httpRequest(url, { headers: { "accept-encoding": "identity" } }, (res) => {
      res.on("data", (chunk: Buffer) => {
        received += chunk.length;
        const due = (received / bytesPerSecond) * 1000 - (Date.now() - started);
        if (due > 0) {
          res.pause();
          setTimeout(() => res.resume(), due);
        }
      });
      res.on("end", () => resolve(received));
      res.on("error", () => resolve(received));
    });
    req.on("error", () => resolve(received));
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve(received);
    }, seconds * 1000);
  });
}

/**
 * Three clients at 50 KB/s on distinct cold 64 MiB objects at one POP, for
 * `seconds`: the POP's resident memory before and at its peak. Undefined
 * where the POP's process cannot be found (no ss).
 */
export async function measureSlowClients(topology: Topology, seconds = 20, colo = "FRA"): Promise<SlowClientsResult | undefined> {
  const pop = popAt(topology, colo);
  const pid = listenerPid(Number(new URL(pop.url).port));
  if (pid === undefined) {
    console.log("slow clients: skipped (the POP's process cannot be found: ss is missing)");
    return undefined;
  }
  const objectBytes = 64 * MiB;
  const bytesPerSecond = 50 * 1000;
  // The same path warmed first (a streamed fill through the shield, then its hits): the growth
  // measured is the slow clients', not the isolate's first compilations and allocations.
  const warm = `${pop.url}/gen/${2 * MiB}?ttl=600&slow-warm=${process.pid}-${Date.now()}`;
  for (let i = 0; i < 3; i++) await (await fetch(warm, { headers: { "accept-encoding": "identity" } })).arrayBuffer();
  const before = rssOf(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 200);
  const clients = Array.from({ length: 3 }, (_, i) => slowClient(`${pop.url}/gen/${objectBytes}?ttl=600&slow=${process.pid}-${Date.now()}-${i}`, bytesPerSecond, seconds));
  const received = (await Promise.all(clients)).reduce((a, b) => a + b, 0);
  clearInterval(sampler);
  const growth = peak - before;
  const result = {
    clients: 3,
    objectBytes,
    clientBytesPerSecond: bytesPerSecond,
    seconds,
    rssBeforeBytes: before,
    rssPeakBytes: peak,
    growthBytes: growth,
    receivedBytes: received,
    withinBound: growth <= 64 * MiB,
  };
  console.log(
    `slow clients: 3 at 50 KB/s on 64 MiB objects for ${seconds} s: POP RSS ${Math.round(before / MiB)} → peak ${Math.round(peak / MiB)} MiB (growth ${Math.round(growth / MiB)} MiB; bound 64 MiB); clients got ${Math.round(received / 1000)} KB`,
  );
  return result;
}
