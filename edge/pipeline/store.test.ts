import { describe, expect, it } from "vitest";
import { secondTierWriteAfter, streamAfterMsOf } from "./store";

/** Whether `work` has settled after `ms` (real timers, small margins). */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void work.then(() => (settled = true));
  await new Promise((r) => setTimeout(r, ms));
  return settled;
}

describe("a whole body's second-tier write", () => {
  it("waits for the client to have the body, then lets the last chunks leave", async () => {
    let deliver!: () => void;
    const delivered = new Promise<void>((r) => (deliver = r));
    const write = secondTierWriteAfter(delivered, 10_000, 40);
    expect(await settledWithin(write, 60)).toBe(false);
    deliver();
    expect(await settledWithin(write, 5)).toBe(false);
    expect(await settledWithin(write, 80)).toBe(true);
  });

  it("does not wait on a client that takes longer than its bound", async () => {
    const never = new Promise<void>(() => undefined);
    expect(await settledWithin(secondTierWriteAfter(never, 30, 10), 150)).toBe(true);
  });
});

describe("how long a streamed miss's first bytes wait for the rest of its first 16 KiB", () => {
  it("as long as it takes by default, cache.streamAfterMs when set, not at all when the origin asked for no buffering", () => {
    expect(streamAfterMsOf(new Headers(), undefined)).toBe(Infinity);
    expect(streamAfterMsOf(new Headers(), 50)).toBe(50);
    expect(streamAfterMsOf(new Headers({ "x-accel-buffering": "no" }), undefined)).toBe(0);
    expect(streamAfterMsOf(new Headers({ "x-accel-buffering": " No " }), 50)).toBe(0);
    expect(streamAfterMsOf(new Headers({ "x-accel-buffering": "yes" }), undefined)).toBe(Infinity);
  });
});
