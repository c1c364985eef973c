import { describe, expect, it } from "vitest";
import { HeldSyncs, MAX_HELD_SYNCS } from "./held-syncs";

describe("HeldSyncs", () => {
  it("answers every held sync on news, and each after its own bound", async () => {
    const held = new HeldSyncs();
    let answered = 0;
    const syncs = [held.hold(10_000), held.hold(10_000)].map((p) => p.then(() => answered++));
    expect(held.size).toBe(2);
    held.releaseAll();
    await Promise.all(syncs);
    expect(answered).toBe(2);
    expect(held.size).toBe(0);
    const start = Date.now();
    await held.hold(20);
    expect(Date.now() - start).toBeGreaterThanOrEqual(15);
  });

  it("answers the oldest to make room past MAX_HELD_SYNCS", async () => {
    const held = new HeldSyncs();
    let oldestAnswered = false;
    void held.hold(10_000).then(() => (oldestAnswered = true));
    for (let i = 1; i < MAX_HELD_SYNCS; i++) void held.hold(10_000);
    expect(held.size).toBe(MAX_HELD_SYNCS);
    void held.hold(10_000);
    await Promise.resolve();
    expect(oldestAnswered).toBe(true);
    expect(held.size).toBe(MAX_HELD_SYNCS);
    held.releaseAll();
  });
});
