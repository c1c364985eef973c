/**
 * The fill path under the failures real origins produce: a body that stalls,
 * a body cut off mid-way, a body without Content-Length, a slow upload. Every
 * one ends within a bound: in a stale copy or a clear 5xx with Cache-Status
 * and Retry-After, or, once a miss has started its answer (past its first
 * 16 KiB, or at once when its origin asked for no buffering), in the client's
 * connection cut (never a clean short body); none of them poisons the cache
 * or an origin's health.
 */
import { request as httpRequest } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Network, TopologyOrigin } from "../../scripts/network";
import { setFault, startTestNetwork, unique, waitFor } from "./helpers";

const BODY_IDLE_MS = 600;
let network: Network;
let fra: string;
let origins: TopologyOrigin[];

beforeAll(async () => {
  network = await startTestNetwork({
    configOverrides: {
      originFetch: { timeoutMs: 1500, retries: 1, bodyIdleTimeoutMs: BODY_IDLE_MS, collapsedWaitMs: 3000 },
      cache: { maxObjectBytes: 2_500_000 },
    },
  });
  fra = network.topology.pops.find((p) => p.colo === "FRA")!.url;
  origins = network.topology.origins;
});
afterEach(async () => {
  for (const origin of origins) await setFault(origin.admin, { mode: "ok" });
});
afterAll(async () => {
  await network?.stop();
});

const everyOrigin = async (fault: Record<string, unknown>) => {
  for (const origin of origins) await setFault(origin.admin, fault);
};

async function timed(path: string, init: RequestInit = {}): Promise<{ response: Response; body: string; ms: number }> {
  const started = Date.now();
  const response = await fetch(`${fra}${path}`, { ...init, headers: { "accept-encoding": "identity", ...(init.headers ?? {}) } });
  const body = await response.text().catch(() => "");
  return { response, body, ms: Date.now() - started };
}

/** What FRA's nearest origin itself answers for `path`: the bytes a miss and its hits must be. */
async function fromOrigin(path: string): Promise<string> {
  const origin = origins.find((o) => o.region === "eu-central") ?? origins[0];
  return fetch(`${origin.url}${path}`).then((r) => r.text());
}

/** FRA's answer for `path` once it is a hit at FRA itself (its fill's store runs behind the miss). */
function hitAtFra(path: string): Promise<{ response: Response; body: string; ms: number }> {
  return waitFor("the hit", async () => {
    const again = await timed(path);
    return /Outpost-FRA;hit/.test(again.response.headers.get("cache-status") ?? "") ? again : undefined;
  });
}

describe("a body that stalls", () => {
  it("ends a miss in a clear 504 within the idle bound, and releases the requests collapsed onto it", async () => {
    await everyOrigin({ mode: "stall", afterBytes: 100 });
    const path = unique("/gen/50000?ttl=60");
    const answers = await Promise.all([timed(path), timed(path), timed(path)]);
    for (const { response, ms } of answers) {
      expect([502, 504]).toContain(response.status);
      expect(response.headers.get("cache-status")).toMatch(/fwd=uri-miss/);
      expect(response.headers.get("retry-after")).not.toBeNull();
      // Bounded: two attempts of one idle timeout each, plus a collapsed wait at most; never the 30 s seen before.
      expect(ms).toBeLessThan(3000 + 2 * BODY_IDLE_MS + 1500);
    }
  });

  it("after a head sent unbuffered (X-Accel-Buffering: no): the head goes out, the connection is cut within the idle bound, nothing is stored", async () => {
    await everyOrigin({ mode: "stall", afterBytes: 100 });
    const path = unique("/gen/50000?ttl=60&unbuffered=1");
    const tries = [0, 1, 2].map(async () => {
      const started = Date.now();
      const response = await fetch(`${fra}${path}`, { headers: { "accept-encoding": "identity" } });
      const read = await response.arrayBuffer().then(
        () => "whole",
        () => "cut",
      );
      return { response, read, ms: Date.now() - started };
    });
    const outcomes = await Promise.all(tries);
    // The fill's leader answered with the head (buffered, it is a clean 504 after the stall: the test above).
    expect(outcomes.some(({ response }) => response.status === 200)).toBe(true);
    for (const { response, read, ms } of outcomes) {
      // Collapsed requests are released when the fill fails, and go forward themselves, to the same stall.
      if (response.status === 200) expect(read).toBe("cut");
      else expect([502, 504]).toContain(response.status);
      expect(ms).toBeLessThan(3000 + 2 * BODY_IDLE_MS + 1500);
    }
    await everyOrigin({ mode: "ok" });
    const whole = await timed(path);
    expect(whole.response.headers.get("cache-status")).toMatch(/Outpost-FRA;fwd=uri-miss/);
    expect(whole.body).toBe(await fromOrigin(path));
  });

  it("serves the stale copy when the revalidation's body stalls", async () => {
    const path = unique("/gen/40000?ttl=1");
    const first = await timed(path);
    expect(first.response.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1200));
    await everyOrigin({ mode: "stall", afterBytes: 100 });
    const stale = await timed(path);
    expect(stale.response.status).toBe(200);
    expect(stale.response.headers.get("cache-status")).toMatch(/fwd=stale/);
    expect(stale.body).toBe(first.body);
  });
});

describe("a body cut off mid-way", () => {
  it("during revalidation serves stale, never the runtime's bare 500", async () => {
    const path = unique("/gen/40000?ttl=1");
    const first = await timed(path);
    expect(first.response.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1200));
    await everyOrigin({ mode: "truncate", afterBytes: 1000 });
    const stale = await timed(path);
    expect(stale.response.status).toBe(200);
    expect(stale.response.headers.get("cache-status")).toMatch(/fwd=stale/);
    expect(stale.body).toBe(first.body);
  });

  it("on a miss whose retry breaks too, answers 502 with Cache-Status and Retry-After, and stores nothing", async () => {
    await everyOrigin({ mode: "truncate", afterBytes: 1000 });
    const path = unique("/gen/40000?ttl=60");
    const broken = await timed(path);
    expect(broken.response.status).toBe(502);
    expect(broken.response.headers.get("cache-status")).toMatch(/Outpost-FRA;fwd=uri-miss;fwd-status=502/);
    expect(broken.response.headers.get("retry-after")).toBe("5");
    await everyOrigin({ mode: "ok" });
    const whole = await timed(path);
    expect(whole.response.status).toBe(200);
    expect(whole.body.length).toBe(40000);
  });
});

describe("a miss that streams", () => {
  it("cut off past its first 16 KiB: the client's connection is cut (never a clean short body), nothing is stored", async () => {
    await everyOrigin({ mode: "truncate", afterBytes: 300_000 });
    const path = unique("/gen/600000?ttl=60");
    const cut = await fetch(`${fra}${path}`, { headers: { "accept-encoding": "identity" } });
    expect(cut.status).toBe(200);
    await expect(cut.arrayBuffer()).rejects.toThrow();
    await everyOrigin({ mode: "ok" });
    const whole = await timed(path);
    expect(whole.response.headers.get("cache-status")).toMatch(/Outpost-FRA;fwd=uri-miss/);
    expect(whole.body.length).toBe(600_000);
  });
});

describe("a miss of known length, read into one buffer", () => {
  it("arrives whole and is kept whole: the miss and the hit after it are the origin's bytes", async () => {
    // Past the first read and paused half-way, so that the body comes in many reads into its one buffer.
    const path = unique("/gen/1000000?ttl=600&pauseAfter=400000&pauseMs=100");
    const direct = await fromOrigin(path);
    const miss = await timed(path);
    expect(miss.response.headers.get("cache-status")).toMatch(/Outpost-FRA;fwd=uri-miss/);
    expect(miss.body === direct).toBe(true);
    const hit = await hitAtFra(path);
    expect(hit.body.length).toBe(1_000_000);
    expect(hit.body === direct).toBe(true);
  });
});

describe("a miss too large for memory", () => {
  it("is sent and stored in step: the miss and the hit after it are the origin's bytes", async () => {
    // Past memoryEntryMaxBytes (1 MiB), paused half-way so that the pumps' buffers are read into again and again.
    const path = unique("/gen/2000000?ttl=600&pauseAfter=900000&pauseMs=100");
    const direct = await fromOrigin(path);
    const miss = await timed(path);
    expect(miss.response.headers.get("cache-status")).toMatch(/Outpost-FRA;fwd=uri-miss;fwd-status=200;ttl=\d+;stored/);
    expect(miss.response.headers.get("content-length")).toBe("2000000");
    expect(miss.body === direct).toBe(true);
    const hit = await hitAtFra(path);
    expect(hit.body === direct).toBe(true);
  });

  it("stalled past its first bytes: the client's connection is cut, and nothing partial is kept", async () => {
    const path = unique("/gen/2000000?ttl=600");
    await everyOrigin({ mode: "stall", afterBytes: 1_200_000 });
    const cut = await fetch(`${fra}${path}`, { headers: { "accept-encoding": "identity" } });
    expect(cut.status).toBe(200);
    await expect(cut.arrayBuffer()).rejects.toThrow();
    await everyOrigin({ mode: "ok" });
    const direct = await fromOrigin(path);
    // Once the failed stores have given up (the Cache API's settle included), the object is a miss again, never a short hit.
    await new Promise((r) => setTimeout(r, 1000));
    const again = await timed(path);
    expect(again.response.headers.get("cache-status")).toMatch(/Outpost-FRA;fwd=uri-miss/);
    expect(again.body === direct).toBe(true);
  });
});

describe("an answer not stored", () => {
  it("stalled past its first bytes: the client's connection is cut within the idle bound", async () => {
    await everyOrigin({ mode: "stall", afterBytes: 100_000 });
    const started = Date.now();
    const cut = await fetch(`${fra}${unique("/gen/600000?ttl=0")}`, { headers: { "accept-encoding": "identity" } });
    expect(cut.status).toBe(200);
    expect(cut.headers.get("content-length")).toBe("600000");
    await expect(cut.arrayBuffer()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(BODY_IDLE_MS + 2000);
  });

  it.each([
    { framing: "with its length", query: "" },
    { framing: "chunked", query: "&chunked=1" },
  ])("arrives whole, every byte as the origin sent it ($framing)", async ({ query }) => {
    const path = unique(`/gen/3000000?ttl=0${query}`);
    const [through, direct] = await Promise.all([timed(path), fromOrigin(path)]);
    expect(through.response.headers.get("cache-status")).toMatch(/fwd=uri-miss/);
    expect(through.body.length).toBe(3_000_000);
    expect(through.body === direct).toBe(true);
  });
});

describe("a body without Content-Length", () => {
  it("is stored with its real size: a Range on a 2 MB chunked object is answered from the cache", async () => {
    const path = unique("/gen/2000000?ttl=600&chunked=1");
    const first = await timed(path);
    expect(first.response.status).toBe(200);
    expect(first.body.length).toBe(2_000_000);
    const ranged = await waitFor("the entry to be stored with its size", async () => {
      const r = await timed(path, { headers: { range: "bytes=0-9" } });
      return r.response.status === 206 ? r : undefined;
    });
    expect(ranged.response.headers.get("content-range")).toBe("bytes 0-9/2000000");
    expect(ranged.response.headers.get("cache-status")).toMatch(/Outpost-FRA;hit/);
    expect(ranged.body.length).toBe(10);
  });

  it("past cache.maxObjectBytes streams whole to the client and is not stored", async () => {
    const path = unique("/gen/3000000?ttl=600&chunked=1");
    const first = await timed(path);
    expect(first.body.length).toBe(3_000_000);
    await new Promise((r) => setTimeout(r, 500));
    const again = await timed(path);
    expect(again.body.length).toBe(3_000_000);
    expect(again.response.headers.get("cache-status")).toMatch(/fwd=uri-miss/);
  });
});

describe("uploads", () => {
  it("a slow client upload never counts as an origin timeout", async () => {
    const port = Number(new URL(fra).port);
    const ejections = async () => {
      const status = (await (await fetch(`${fra}/__outpost/status`, { headers: { authorization: `Bearer ${network.topology.control.token}` } })).json()) as {
        origins: { originId: string; totalEjections: number; consecutiveFailures: number }[];
      };
      return status.origins.reduce((n, o) => n + o.totalEjections, 0);
    };
    const before = await ejections();
    const answers: number[] = [];
    for (let i = 0; i < 3; i++) {
      answers.push(
        await new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: "127.0.0.1", port, path: unique("/upload"), method: "PUT", headers: { host: "localhost", "content-type": "text/plain" } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", reject);
          // Chunked, 2 s in all: longer than the 1.5 s origin timeout.
          let sent = 0;
          const timer = setInterval(() => {
            req.write("x".repeat(100));
            if (++sent === 5) {
              clearInterval(timer);
              req.end();
            }
          }, 400);
        }),
      );
    }
    expect(answers).toEqual([200, 200, 200]);
    // Three uploads slower than the origin timeout: counted against the origin, they would eject it.
    expect(await ejections()).toBe(before);
  });
});
