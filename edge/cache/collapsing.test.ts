/** The collapsing unit: one leader per key, followers wait on it, the key is free when the work ends. */
import { describe, expect, it } from "vitest";
import { Collapsing } from "./collapsing";

describe("Collapsing", () => {
  it("lets followers find the leader, take what it settles early, and frees the key when the work ends", async () => {
    const collapsing = new Collapsing<string>();
    let finish!: () => void;
    const work = collapsing.lead("k", "ended", async (settle) => {
      settle("shared");
      await new Promise<void>((resolve) => (finish = resolve));
      return 42;
    });
    expect(await collapsing.leaderOf("k")).toBe("shared");
    expect(collapsing.leaderOf("other")).toBeUndefined();
    finish();
    expect(await work).toBe(42);
    expect(collapsing.leaderOf("k")).toBeUndefined();
  });

  it("gives followers the `ended` value when the leader fails or never settles, and frees the key", async () => {
    const collapsing = new Collapsing<string>();
    const failing = collapsing.lead("k", "ended", async () => {
      throw new Error("origin down");
    });
    const follower = collapsing.leaderOf("k");
    await expect(failing).rejects.toThrow("origin down");
    expect(await follower).toBe("ended");
    expect(collapsing.size).toBe(0);
  });

  it("keeps a newer leader's entry when an older one ends", async () => {
    const collapsing = new Collapsing<number>();
    let endFirst!: () => void;
    const first = collapsing.lead("k", 0, () => new Promise<void>((resolve) => (endFirst = resolve)));
    const second = collapsing.lead("k", 0, () => new Promise<void>(() => undefined));
    void second;
    endFirst();
    await first;
    expect(collapsing.leaderOf("k")).toBeDefined();
  });
});

describe("Collapsing: work that answers before it ends", () => {
  it("holds the key until what the work holds has settled, so followers still find the leader", async () => {
    const collapsing = new Collapsing<string>();
    let bodyArrived!: () => void;
    const arriving = new Promise<void>((resolve) => (bodyArrived = resolve));
    const answer = await collapsing.lead("k", "ended", async (settle, hold) => {
      hold(arriving.then(() => settle("shared")));
      return "answered while the body streams";
    });
    expect(answer).toBe("answered while the body streams");
    const follower = collapsing.leaderOf("k");
    expect(follower).toBeDefined();
    bodyArrived();
    expect(await follower).toBe("shared");
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(collapsing.leaderOf("k")).toBeUndefined();
  });
});
