import { describe, expect, it } from "vitest";
import { EMPTY_SNAPSHOT } from "../../common/snapshot";
import { SnapshotClient } from "../../edge/snapshot-client";

function client(metricsReportMs: number) {
  const posted: string[] = [];
  const control = {
    fetch: async (url: string) => {
      posted.push(new URL(url).pathname);
      return Response.json(url.endsWith("/v1/sync") ? { ...EMPTY_SNAPSHOT, version: 1 } : { version: 1 });
    },
  } as unknown as Fetcher;
  const snapshots = new SnapshotClient({
    control,
    controlHost: "control.internal",
    popToken: "t",
    popName: "Outpost-TST",
    refreshMs: 1000,
    coldStartWaitMs: 500,
    longPollMs: 0,
    syncReport: () => ({ purgeSeq: 0, counters: {} }),
    metrics: () => ({ counters: { requests: 1 } }),
    metricsReportMs,
    onSnapshot: () => 0,
  });
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
