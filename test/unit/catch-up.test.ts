/**
 * The folded catch-up (common/catch-up.ts): the control plane folds the purge
 * log into one bounded answer; the edge's PurgeRules applied to it purge what
 * the rules themselves would (or, by a bucket's rounding, a little more).
 */
import { describe, expect, it } from "vitest";
import { decodeCatchUp } from "../../common/catch-up";
import { parseConfig } from "../../common/config";
import type { PurgeTarget } from "../../common/snapshot";
import { ControlState } from "../../control/state";
import { MemoryControlStorage } from "../../control/storage";
import { PurgeRules } from "../../edge/cache/purge-rules";

const config = parseConfig({
  origins: [{ id: "o", url: "http://127.0.0.1:1", region: "eu-central" }],
  sites: [{ id: "s", hosts: ["cdn.example.com"], origins: ["o"] }],
});
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.UTC(2026, 10, 1);

/** A control plane on a clock the test moves, keeping rules 9 days and sending isolates 10 rules behind to the catch-up. */
function controlPlane() {
  const storage = new MemoryControlStorage();
  const clock = { now: START };
  const state = new ControlState(
    storage,
    () => config,
    () => clock.now,
    () => undefined,
    { purgeHorizonMs: 9 * DAY, catchUpAfter: 10 },
  );
  const purgeAt = (at: number, targets: PurgeTarget[], soft = false) => {
    clock.now = at;
    return state.purge(targets, soft, `p-${at}-${Math.random()}`, { cloudflare: false });
  };
  return { storage, clock, state, purgeAt };
}

describe("the folded catch-up", () => {
  it("sends an isolate far behind to it, and purges there what the log would, rounded only towards purging", async () => {
    const { clock, state, purgeAt } = controlPlane();
    const now = START + 8 * DAY;
    await purgeAt(now - 3 * DAY, [{ kind: "tag", value: "old-tag" }]);
    await purgeAt(now - 2 * DAY, [{ kind: "tag", value: "soft-tag" }], true);
    await purgeAt(now - 30 * HOUR, [{ kind: "prefix", value: "https://cdn.example.com/docs/" }]);
    await purgeAt(now - 5 * HOUR, [{ kind: "host", value: "cdn.example.com" }]);
    await purgeAt(now - 2 * HOUR, [{ kind: "url", value: "https://cdn.example.com/gone-long-ago" }]);
    await purgeAt(now - 20 * 60_000, [{ kind: "url", value: "https://cdn.example.com/soft-url" }], true);
    await purgeAt(now - 5 * 60_000, [{ kind: "url", value: "https://cdn.example.com/just-now" }]);
    for (let i = 0; i < 12; i++) await purgeAt(now - 60_000 + i, [{ kind: "tag", value: `filler-${i}` }]);
    clock.now = now;

    const first = await state.sync({ pop: "Outpost-NEW", have: 0, purgeSeq: 0 });
    expect(first.catchUp).toBe(true);
    expect(first.purges).toEqual([]);
    const catchUp = decodeCatchUp(await state.catchUp());
    expect(catchUp.header.upTo).toBe(first.purgeSeq);
    expect(catchUp.header.epoch).toBe(first.purgeEpoch);

    const edge = new PurgeRules(9 * DAY);
    edge.applyCatchUp(catchUp, now);
    expect(edge.highestSeq).toBe(first.purgeSeq);
    const verdict = (key: string, tags: string[], fetchedAt: number) => edge.verdict(`https://cdn.example.com${key}`, tags, fetchedAt).kind;
    // Before the host purge (5 h ago) every entry of the host is gone; after it, each rule speaks for itself.
    expect(verdict("/any", [], now - 6 * HOUR)).toBe("hard");
    const afterHost = now - 4 * HOUR;
    expect(verdict("/any", [], afterHost)).toBe("none");
    expect(verdict("/x", ["old-tag"], now - 4 * DAY)).toBe("hard");
    expect(verdict("/docs/a/b", [], now - 31 * HOUR)).toBe("hard");
    expect(verdict("/just-now", [], afterHost)).toBe("hard");
    expect(verdict("/just-now", [], now - 60_000)).toBe("none");
    expect(verdict("/soft-url", [], afterHost)).toBe("soft");
    expect(verdict("/x", ["filler-3"], now - 2 * 60_000)).toBe("hard");
    // A hard URL rule past its grace is not in the catch-up (a POP that applied it live forgets it too).
    expect(verdict("/gone-long-ago", [], afterHost)).toBe("none");
    // The 6-hour group of the soft tag: soft before it, nothing once the group's last rule has passed.
    expect(edge.verdict("https://other.example.com/x", ["soft-tag"], now - 3 * DAY).kind).toBe("soft");
    expect(edge.verdict("https://other.example.com/x", ["soft-tag"], now - 2 * DAY + 6 * HOUR).kind).toBe("none");

    // From where the catch-up left it, the isolate pages as before.
    const next = await state.sync({ pop: "Outpost-NEW", have: first.version, purgeSeq: catchUp.header.upTo, epoch: first.purgeEpoch });
    expect(next.catchUp).toBeUndefined();
    expect(next.purges).toEqual([]);
    const later = await purgeAt(now + 1000, [{ kind: "tag", value: "later" }]);
    const paged = await state.sync({ pop: "Outpost-NEW", have: next.version, purgeSeq: catchUp.header.upTo, epoch: first.purgeEpoch });
    expect(paged.purges.map((r) => r.seq)).toEqual([later.seq]);
  });

  it("keeps a hard URL rule within its grace though its hour has closed, and no longer", async () => {
    const { clock, state, purgeAt } = controlPlane();
    const hour = START + DAY;
    await purgeAt(hour - 2 * 60_000, [{ kind: "url", value: "https://cdn.example.com/late-in-the-hour" }]);
    for (let i = 0; i < 11; i++) await purgeAt(hour + i, [{ kind: "tag", value: `t${i}` }]);
    const verdictAt = async (now: number) => {
      clock.now = now;
      await purgeAt(now, [{ kind: "tag", value: `at-${now}` }]);
      const edge = new PurgeRules(9 * DAY);
      edge.applyCatchUp(decodeCatchUp(await state.catchUp()), now);
      return edge.verdict("https://cdn.example.com/late-in-the-hour", [], hour - 3 * 60_000).kind;
    };
    expect(await verdictAt(hour + 5 * 60_000)).toBe("hard");
    expect(await verdictAt(hour + 20 * 60_000)).toBe("none");
  });

  it("carries purge_everything as its latest times", async () => {
    const { clock, state, purgeAt } = controlPlane();
    const now = START + DAY;
    await purgeAt(now - 10 * HOUR, [{ kind: "everything" }]);
    await purgeAt(now - 3 * HOUR, [{ kind: "everything" }], true);
    for (let i = 0; i < 11; i++) await purgeAt(now - HOUR + i, [{ kind: "tag", value: `t${i}` }]);
    clock.now = now;
    const { header } = decodeCatchUp(await state.catchUp());
    expect(header.everything).toEqual({ hard: now - 10 * HOUR, soft: now - 3 * HOUR });
  });

  it("leaves out every bucket a later hard purge_everything subsumes", async () => {
    const { clock, state, purgeAt } = controlPlane();
    const now = START + 4 * DAY;
    for (let i = 0; i < 20; i++) await purgeAt(now - 3 * DAY + i * HOUR, [{ kind: "tag", value: `before-${i}` }]);
    await purgeAt(now - 2 * DAY, [{ kind: "everything" }]);
    for (let i = 0; i < 11; i++) await purgeAt(now - DAY + i * HOUR, [{ kind: "tag", value: `after-${i}` }]);
    clock.now = now;
    const catchUp = decodeCatchUp(await state.catchUp());
    expect(catchUp.buckets.every((b) => b.to > now - 2 * DAY)).toBe(true);
    expect(catchUp.buckets.reduce((n, b) => n + b.hard.length, 0)).toBe(11);
    const edge = new PurgeRules(9 * DAY);
    edge.applyCatchUp(catchUp, now);
    // What the dropped names purged, the everything rule purges.
    expect(edge.verdict("https://cdn.example.com/x", ["before-3"], now - 3 * DAY).kind).toBe("hard");
    expect(edge.verdict("https://cdn.example.com/x", ["before-3"], now - 2 * DAY + 1000).kind).toBe("none");
    expect(edge.verdict("https://cdn.example.com/x", ["after-3"], now - DAY).kind).toBe("hard");
  });

  it("folds each closed hour once into a row of its own, and drops rows past the horizon", async () => {
    const { storage, clock, state, purgeAt } = controlPlane();
    for (let h = 0; h < 30; h++) await purgeAt(START + h * HOUR, [{ kind: "tag", value: `hour-${h}` }]);
    clock.now = START + 10 * DAY;
    await state.catchUp();
    const folds = () => storage.tables.get("fold") ?? new Map();
    const rows = folds().size;
    expect(rows).toBeGreaterThanOrEqual(9 * 24 - 1);
    expect(rows).toBeLessThanOrEqual(9 * 24 + 2);
    for (const [, value] of folds()) expect(value.length).toBeLessThan(4096);
    const written = storage.writes.filter((w) => w.table === "fold").length;
    // The same hours again: nothing is folded twice.
    await purgeAt(clock.now + 10_000, [{ kind: "tag", value: "again" }]);
    clock.now += 10_000;
    await state.catchUp();
    expect(storage.writes.filter((w) => w.table === "fold").length).toBe(written);
    // A day on: a day of new hours, and a day of old ones dropped.
    clock.now += DAY;
    await state.catchUp();
    expect(Math.abs(folds().size - rows)).toBeLessThanOrEqual(1);
    expect(folds().has(String(START))).toBe(false);
  });
});
