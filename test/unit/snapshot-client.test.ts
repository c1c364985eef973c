import { describe, expect, it, vi } from "vitest";
import { encodeCatchUp } from "../../common/catch-up";
import { EMPTY_SNAPSHOT } from "../../common/snapshot";
import { ISOLATE_RENEW_MS } from "../../common/wire";
import { IsolateIdentity } from "../../edge/isolate-identity";
import { SnapshotClient, type SnapshotClientOptions } from "../../edge/snapshot-client";

/** A client's options as a POP sets them, with a test's own control plane and changes. */
function clientOptions(control: Fetcher, changes: Partial<SnapshotClientOptions> = {}): SnapshotClientOptions {
  return {
    control,
    controlHost: "control.internal",
    popToken: "t",
    popName: "Outpost-TST",
    identity: { id: "a1", renewIfSilent: () => undefined },
    refreshMs: 1000,
    coldStartWaitMs: 500,
    longPollMs: 0,
    syncReport: () => ({ purgeSeq: 0, counters: {} }),
    metrics: () => ({ counters: { requests: 1 } }),
    metricsReportMs: 0,
    onSnapshot: () => 0,
    onCatchUp: () => undefined,
    ...changes,
  };
}

function client(metricsReportMs: number) {
  const posted: string[] = [];
  const control = {
    fetch: async (url: string) => {
      posted.push(new URL(url).pathname);
      return Response.json(url.endsWith("/v1/sync") ? { ...EMPTY_SNAPSHOT, version: 1 } : { version: 1 });
    },
  } as unknown as Fetcher;
  const snapshots = new SnapshotClient(clientOptions(control, { metricsReportMs }));
  return { snapshots, posted };
}

describe("figure reports between syncs", () => {
  it("waits inside a request's waitUntil only as long as the platform lets it (25 s): a later report goes with a later request", async () => {
    const waited: Promise<unknown>[] = [];
    const slow = client(60_000);
    await slow.snapshots.forRequest((p) => waited.push(p), Date.now());
    await Promise.all(waited);
    waited.length = 0;
    slow.snapshots.forRequest((p) => waited.push(p), Date.now());
    // Due in about 60 s: nothing is left waiting in this request.
    expect((slow.snapshots as unknown as { pushing: unknown }).pushing).toBeUndefined();

    const quick = client(50);
    await quick.snapshots.forRequest((p) => waited.push(p), Date.now());
    await Promise.all(waited);
    quick.snapshots.forRequest((p) => waited.push(p), Date.now());
    await Promise.all(waited);
    expect(quick.posted).toContain("/v1/reports");
  });
});

describe("figure reports at the end of a burst", () => {
  /**
   * A control plane that records the request count of each figure report it takes; `before` runs
   * first and may answer for it (a failure), or wait (a loaded control plane).
   */
  function reportsTaken(before: () => Promise<Response | undefined>) {
    const reported: number[] = [];
    const control = {
      fetch: async (url: string, init?: RequestInit) => {
        if (url.endsWith("/v1/sync")) return Response.json({ ...EMPTY_SNAPSHOT, version: 1 });
        const answer = await before();
        if (answer) return answer;
        reported.push((JSON.parse(String(init?.body)) as { metrics: { counters: { requests: number } } }).metrics.counters.requests);
        return Response.json({ version: 1 });
      },
    } as unknown as Fetcher;
    return { control, reported };
  }
  const settled = async (waited: Promise<unknown>[]) => {
    while (waited.length > 0) await Promise.all(waited.splice(0));
  };

  it("sends the figures again when requests came while a report was on its way", async () => {
    let requests = 0;
    // A loaded control plane: each report takes 100 ms to answer.
    const { control, reported } = reportsTaken(() => new Promise((r) => setTimeout(() => r(undefined), 100)));
    const snapshots = new SnapshotClient(clientOptions(control, { metricsReportMs: 20, metrics: () => ({ counters: { requests } }) }));
    const waited: Promise<unknown>[] = [];
    const request = () => {
      requests++;
      return snapshots.forRequest((p) => waited.push(p), Date.now());
    };
    await request();
    await settled(waited);
    request();
    // The report of those two is on its way (20 ms, then 100 ms to answer) when the last request comes.
    await new Promise((r) => setTimeout(r, 60));
    request();
    await settled(waited);
    expect(reported.at(-1), `reported: ${reported.join(", ")}`).toBe(3);
  });

  it("sends the figures again after a report that failed, not only at the next request", async () => {
    let failures = 1;
    const { control, reported } = reportsTaken(async () => (failures-- > 0 ? new Response("overloaded", { status: 503 }) : undefined));
    const snapshots = new SnapshotClient(clientOptions(control, { metricsReportMs: 20, metrics: () => ({ counters: { requests: 7 } }) }));
    const waited: Promise<unknown>[] = [];
    snapshots.forRequest((p) => waited.push(p), Date.now());
    await settled(waited);
    expect(reported).toEqual([7]);
  });
});

describe("passive-health reports", () => {
  it("sends an ejection again after a failed try, not only with the isolate's next request", async () => {
    const tries: number[] = [];
    const control = {
      fetch: async (url: string) => {
        if (url.endsWith("/v1/sync")) return Response.json({ ...EMPTY_SNAPSHOT, version: 1 });
        tries.push(Date.now());
        return tries.length === 1 ? new Response("overloaded", { status: 503 }) : Response.json({ version: 1 });
      },
    } as unknown as Fetcher;
    const snapshots = new SnapshotClient(clientOptions(control));
    const sent = await snapshots.report([{ kind: "ejected", originId: "o", at: Date.now(), reason: "status 522" }]);
    expect(sent).toBe(true);
    expect(tries).toHaveLength(2);
    // Not at once: a control plane in trouble is given a second.
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(900);
  });
});

describe("a control plane in trouble", () => {
  /** A client whose control plane answers every sync 503, counting them. */
  function failing(longPollMs: number, retryAfter?: string) {
    const attempts: number[] = [];
    let clock = 0;
    const control = {
      fetch: async (url: string) => {
        if (url.endsWith("/v1/sync")) attempts.push(clock);
        return new Response("overloaded", { status: 503, headers: retryAfter ? { "retry-after": retryAfter } : {} });
      },
    } as unknown as Fetcher;
    const snapshots = new SnapshotClient(clientOptions(control, { coldStartWaitMs: 50, longPollMs, random: () => 0.5 }));
    let waits = 0;
    /** A request every 100 ms for `ms`, each one's background work awaited. */
    const traffic = async (ms: number) => {
      // From 1: a clock reading of 0 is the client's "never synced".
      for (clock = 1; clock <= ms; clock += 100) {
        const waited: Promise<unknown>[] = [];
        const wait = snapshots.forRequest((p) => waited.push(p), clock);
        if (wait) waits++;
        await wait;
        await Promise.all(waited);
      }
    };
    return { attempts, traffic, waits: () => waits };
  }

  it("backs off exponentially, never faster than it synced when all was well (held syncs or polling)", async () => {
    for (const longPollMs of [20_000, 0]) {
      const { attempts, traffic } = failing(longPollMs);
      await traffic(60_000);
      // refreshMs × 2^n: 2, 4, 8, 16, 32 s apart; before, two failed held syncs meant a sync a second for a minute.
      expect(attempts.length, `longPollMs ${longPollMs}`).toBeLessThanOrEqual(8);
      const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
      for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1]);
    }
  });

  it("never makes a request wait on a control plane that failed last: its retries run behind the answer", async () => {
    const { traffic, waits } = failing(20_000);
    await traffic(60_000);
    // The first sync of all waits (cold start); none after a failure.
    expect(waits()).toBe(1);
  });

  it("spreads its first retry over the window the control plane named, so that syncs broken at once come back at a rate it takes", async () => {
    for (const [retrySpreadMs, atLeast, below] of [
      [20_000, 10_000, 10_200],
      [undefined, 1000, 1200],
    ] as const) {
      const attempts: number[] = [];
      let clock = 1;
      const control = {
        fetch: async (url: string) => {
          if (!url.endsWith("/v1/sync")) return Response.json({});
          attempts.push(clock);
          // The first sync is answered (with the hint, when given); every later one fails.
          if (attempts.length === 1) return Response.json({ ...EMPTY_SNAPSHOT, version: 1, ...(retrySpreadMs ? { retrySpreadMs } : {}) });
          return new Response("gone", { status: 503 });
        },
      } as unknown as Fetcher;
      const snapshots = new SnapshotClient(clientOptions(control, { longPollMs: 0, random: () => 0.5 }));
      for (; clock <= 40_000 && attempts.length < 3; clock += 100) {
        const waited: Promise<unknown>[] = [];
        await snapshots.forRequest((p) => waited.push(p), clock);
        await Promise.all(waited);
      }
      // The first failure is the second attempt; the retry after it is the third.
      const gap = attempts[2] - attempts[1];
      expect(gap, `spread ${retrySpreadMs}`).toBeGreaterThanOrEqual(atLeast);
      expect(gap, `spread ${retrySpreadMs}`).toBeLessThan(below);
    }
  });

  it("counts the backoff from when a held sync failed, not from when it was armed", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      let syncs = 0;
      const control = {
        fetch: async (url: string) => {
          if (!url.endsWith("/v1/sync")) return Response.json({});
          syncs++;
          if (syncs === 1) return Response.json({ ...EMPTY_SNAPSHOT, version: 1 });
          // The held sync: the object goes away after holding it 20 s, as every held sync breaks then.
          vi.setSystemTime(Date.now() + 20_000);
          return new Response("gone", { status: 503 });
        },
      } as unknown as Fetcher;
      const snapshots = new SnapshotClient(clientOptions(control, { longPollMs: 20_000, random: () => 0.5 }));
      const waited: Promise<unknown>[] = [];
      await snapshots.forRequest((p) => waited.push(p), Date.now());
      await Promise.all(waited);
      expect(syncs).toBe(2);
      // A request 100 ms after the failure: the backoff (2 s) has not run out.
      waited.length = 0;
      await snapshots.forRequest((p) => waited.push(p), Date.now() + 100);
      await Promise.all(waited);
      expect(syncs).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("waits at least as long as the control plane's Retry-After", async () => {
    const { attempts, traffic } = failing(20_000, "30");
    await traffic(60_000);
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(30_000);
  });
});

describe("an isolate's id on the wire", () => {
  it("is renewed on the first sync after ISOLATE_RENEW_MS of silence, and kept through the pages of one refresh", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(1_000_000);
      const sent: string[] = [];
      let n = 0;
      const identity = new IsolateIdentity(
        () => ({ counters: {} }),
        () => `id${++n}`,
      );
      const control = {
        fetch: async (_url: string, init: RequestInit) => {
          sent.push((JSON.parse(String(init.body)) as { isolate: string }).isolate);
          return Response.json({ ...EMPTY_SNAPSHOT, version: 1 });
        },
      } as unknown as Fetcher;
      const snapshots = new SnapshotClient(clientOptions(control, { identity }));
      await snapshots.refresh(Date.now());
      vi.setSystemTime(1_000_000 + ISOLATE_RENEW_MS - 1000);
      await snapshots.refresh(Date.now());
      vi.setSystemTime(1_000_000 + 2 * ISOLATE_RENEW_MS + 1000);
      await snapshots.refresh(Date.now());
      await snapshots.refresh(Date.now() + 1);
      expect(sent).toEqual(["id1", "id1", "id2", "id2"]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("an isolate far behind", () => {
  /** A control plane that sends the first sync to a catch-up (of `catchUpEpoch`) 10 rules short of the newest, then answers with nothing new. */
  function farBehind(catchUpEpoch: string) {
    const paths: string[] = [];
    const control = {
      fetch: async (url: string) => {
        const path = new URL(url).pathname;
        paths.push(path);
        if (path === "/v1/sync/catch-up") {
          return new Response(encodeCatchUp({ epoch: catchUpEpoch, upTo: 4990, generatedAt: Date.now(), everything: { hard: 0, soft: 0 } }, []));
        }
        const first = paths.filter((p) => p === "/v1/sync").length === 1;
        return Response.json({ ...EMPTY_SNAPSHOT, version: 1, purgeSeq: 5000, purgeEpoch: "e1", ...(first ? { catchUp: true } : {}) });
      },
    } as unknown as Fetcher;
    let applied = 0;
    const caughtUp: number[] = [];
    const snapshots = new SnapshotClient(
      clientOptions(control, {
        onCatchUp: (catchUp) => {
          caughtUp.push(catchUp.header.upTo);
          applied = catchUp.header.upTo;
        },
        onSnapshot: () => applied,
      }),
    );
    return { snapshots, paths, caughtUp };
  }

  it("fetches the folded catch-up its sync points to, applies it, and syncs on from there", async () => {
    const { snapshots, paths, caughtUp } = farBehind("e1");
    await snapshots.refresh(1);
    expect(caughtUp).toEqual([4990]);
    expect(paths).toEqual(["/v1/sync", "/v1/sync/catch-up", "/v1/sync"]);
    expect(snapshots.lastError).toBeUndefined();
  });

  it("refuses a catch-up of another purge epoch: the sync counts as failed", async () => {
    const { snapshots, caughtUp } = farBehind("e0");
    await snapshots.refresh(1);
    expect(caughtUp).toEqual([]);
    expect(snapshots.lastError).toMatch(/another purge epoch/);
  });
});
