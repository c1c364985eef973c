import { describe, expect, it } from "vitest";
import { parseConfig } from "../common/config";
import type { Snapshot } from "../common/snapshot";
import type { SyncReport } from "../common/wire";
import { RelayState, RelayUnavailable, type RelayUpstream } from "./relay";
import { ControlState } from "./state";
import { MemoryControlStorage } from "./storage";

const config = () => parseConfig({ origins: [{ id: "o", url: "http://127.0.0.1:1", region: "us-east" }], sites: [{ id: "s", hosts: ["cdn.example.com"], origins: ["o"] }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const url = (path: string) => ({ kind: "url" as const, value: `https://cdn.example.com${path}` });

/** A relay in front of the control plane's own code, counting what reaches the global object. */
function relayed(window = 50, holdMs = 300) {
  const plane = new ControlState(new MemoryControlStorage(), config, Date.now, () => undefined, { catchUpAfter: window, purgePageSize: window });
  const calls = { sync: 0, forward: 0, catchUp: 0, config: 0 };
  let down = false;
  let hung = false;
  let forwardsToFail = 0;
  const upstream: RelayUpstream = {
    sync: async (request, waitMs) => {
      calls.sync++;
      if (down) throw new Error("global object unavailable");
      if (hung) return new Promise<never>(() => undefined);
      return plane.relaySync(request, waitMs);
    },
    forward: async (batch) => {
      calls.forward++;
      if (down || forwardsToFail-- > 0) throw new Error("global object unavailable");
      return plane.relayed(batch);
    },
    catchUp: async () => {
      calls.catchUp++;
      return plane.catchUp();
    },
    config: async () => {
      calls.config++;
      return plane.configuration();
    },
  };
  // Fixed dice: the backoff after failures is half its ceiling, so the outage test cannot draw a 4 s wait.
  const relay = new RelayState({ name: "weur", upstream, window, holdMs, random: () => 0.5 });
  return { plane, relay, calls, setDown: (value: boolean) => (down = value), setHung: (value: boolean) => (hung = value), failForwards: (n: number) => (forwardsToFail = n) };
}

/** An isolate's held sync through the relay: every answer it is sent, as it comes. */
function hold(relay: RelayState, report: SyncReport, waitMs: number) {
  const answers: Snapshot[] = [];
  const done = relay.sync(report, waitMs, (answer) => {
    answers.push(answer);
    return true;
  });
  return { answers, done };
}

const isolate = (n: number, purgeSeq = 0, epoch?: string): SyncReport => ({ pop: "Outpost-FRA", isolate: `i${n}`, have: 0, purgeSeq, ...(epoch ? { epoch } : {}) });

/**
 * A relay whose global object failed three syncs in a row while `first` (an isolate's held sync) was
 * held: its own loop now waits 2 s (the fixed dice) before its next try.
 */
async function backingOff(holdMs = 6000) {
  const setup = relayed();
  const first = hold(setup.relay, isolate(0), holdMs);
  await sleep(20);
  setup.setDown(true);
  const before = setup.calls.sync;
  for (let i = 0; i < 60 && setup.calls.sync < before + 3; i++) await sleep(50);
  return { ...setup, first };
}

describe("regional relay", () => {
  it("streams each purge down the held syncs it holds, with no request from the isolates and one at the global object", async () => {
    const { plane, relay, calls } = relayed();
    const opening = hold(relay, isolate(0), 0);
    await opening.done;
    const first = opening.answers[0];
    const syncs = Array.from({ length: 20 }, (_, n) => hold(relay, isolate(n, first.purgeSeq, first.purgeEpoch), 2000));
    await sleep(50);
    const before = calls.sync;
    await plane.purge([url("/a")], false, "p1");
    await sleep(30);
    await plane.purge([url("/b")], false, "p2");
    await sleep(30);
    // Each isolate got both rules on the one stream it armed; the global object held the relay's sync only.
    for (const { answers } of syncs) expect(answers.flatMap((a) => a.purges.map((p) => p.id))).toEqual(["p1", "p2"]);
    expect(calls.sync - before).toBeLessThanOrEqual(2);
    expect(plane.heldSyncs).toBe(1);
    expect(relay.held).toBe(20);
  });

  it("forwards where each isolate is, so the global object's purge reach and dashboard count every isolate", async () => {
    const { plane, relay } = relayed();
    const syncs = Array.from({ length: 3 }, (_, n) => hold(relay, isolate(n), 2000));
    await sleep(20);
    const rule = await plane.purge([url("/a")], false, "reach");
    await sleep(100);
    const status = await plane.purgeStatus("reach");
    expect(status?.pops).toEqual([expect.objectContaining({ name: "Outpost-FRA", isolates: 3, isolatesApplied: 3, applied: true })]);
    expect(syncs[0].answers.at(-1)?.purgeSeq).toBe(rule.seq);
  });

  it("never puts the figures an isolate armed its sync with over newer ones it reported since", async () => {
    const { plane, relay } = relayed();
    const armed = { ...isolate(0), origins: { o: { requests: 1, errors: 0 } } };
    hold(relay, armed, 5000);
    await sleep(1100);
    relay.report({ pop: "Outpost-FRA", isolate: "i0", events: [], metrics: { origins: { o: { requests: 9, errors: 0 } } } });
    await sleep(1100);
    // News reaches the held sync (its position goes upstream soon after), then the bound would too.
    await plane.purge([url("/a")], false, "a");
    await sleep(100);
    const [fra] = await plane.pops();
    expect(fra.origins.o.requests).toBe(9);
  });

  it("ends each held sync at its bound with a last answer, so an isolate with no news still hears from it", async () => {
    const { relay } = relayed();
    const { answers, done } = hold(relay, isolate(0), 100);
    await done;
    expect(answers).toHaveLength(2);
    expect(answers[1].purges).toEqual([]);
    expect(relay.held).toBe(0);
  });

  it("sends an isolate behind its window to the catch-up, and fetches the catch-up once for its region", async () => {
    const { plane, relay, calls } = relayed(10);
    for (let n = 0; n < 30; n++) await plane.purge([url(`/p${n}`)], false, `p${n}`);
    const { answers } = hold(relay, isolate(0), 0);
    await sleep(10);
    expect(answers).toEqual([expect.objectContaining({ catchUp: true, purges: [] })]);
    // Within the window: the rules after its position.
    const near = hold(relay, isolate(1, 25, answers[0].purgeEpoch), 0);
    await sleep(10);
    expect(near.answers[0].purges.map((p) => p.seq)).toEqual([26, 27, 28, 29, 30]);
    const [a, b] = await Promise.all([relay.catchUp(), relay.catchUp()]);
    expect(a).toBe(b);
    await relay.catchUp();
    expect(calls.catchUp).toBe(1);
  });

  it("tells the global object which isolates hold a stream: one that does is never counted idle for a purge", async () => {
    const { plane, relay } = relayed();
    const opening = hold(relay, isolate(0), 0);
    await opening.done;
    const { purgeSeq, purgeEpoch } = opening.answers[0];
    const held = hold(relay, isolate(0, purgeSeq, purgeEpoch), 1500);
    await sleep(1100); // its arrival has gone upstream in a batch
    const rule = await plane.purge([url("/held")], false, "p-held");
    // Its last sync is older than the purge, but it holds a stream: pending until the relay says it was sent.
    expect((await plane.purgeStatus(rule.id))?.pops[0]).toMatchObject({ applied: false, idle: false });
    await sleep(50);
    expect((await plane.purgeStatus(rule.id))?.pops[0]).toMatchObject({ applied: true });
    // Its stream over (at its bound), and that told upstream: the next purge finds it idle.
    await held.done;
    await sleep(1100);
    const later = await plane.purge([url("/later")], false, "p-later");
    expect((await plane.purgeStatus(later.id))?.pops[0]).toMatchObject({ applied: false, idle: true });
  });

  it("fetches a new configuration once for its region, however many isolates ask for it", async () => {
    const { plane, relay, calls } = relayed();
    const opening = hold(relay, isolate(0), 0);
    await opening.done;
    const first = opening.answers[0];
    const syncs = Array.from({ length: 20 }, (_, n) => hold(relay, isolate(n, first.purgeSeq, first.purgeEpoch), 2000));
    await sleep(20);
    const { version } = await plane.putConfiguration({
      origins: [{ id: "o", url: "http://127.0.0.1:2", region: "us-east" }],
      sites: [{ id: "s", hosts: ["cdn.example.com"], origins: ["o"] }],
    });
    await sleep(50);
    // Every held sync hears of the new version at once, and each isolate asks for its text.
    expect(syncs.every(({ answers }) => answers.at(-1)?.configVersion === version)).toBe(true);
    const texts = await Promise.all(syncs.map(() => relay.config()));
    expect(texts.every((held) => held.version === version && held.text?.includes("127.0.0.1:2"))).toBe(true);
    expect(calls.config).toBe(1);
    await plane.putConfiguration({ origins: [{ id: "o", url: "http://127.0.0.1:3", region: "us-east" }], sites: [{ id: "s", hosts: ["cdn.example.com"], origins: ["o"] }] });
    await sleep(50);
    expect((await relay.config()).text).toContain("127.0.0.1:3");
    expect(calls.config).toBe(2);
  });

  it("keeps serving its isolates while the global object is down, backs off, and passes purges on once it is back", async () => {
    const { plane, relay, calls, setDown } = relayed();
    const first = hold(relay, isolate(0), 3000);
    await sleep(20);
    setDown(true);
    const before = calls.sync;
    await sleep(1200);
    // Held upstream syncs of 300 ms, failing from now: retries back off (a second at first, with jitter), never faster.
    expect(calls.sync - before).toBeLessThanOrEqual(4);
    const late = hold(relay, isolate(1), 0);
    await sleep(10);
    expect(late.answers).toHaveLength(1);
    setDown(false);
    await plane.purge([url("/after")], false, "after");
    for (let i = 0; i < 40 && !first.answers.some((a) => a.purges.length > 0); i++) await sleep(100);
    expect(first.answers.flatMap((a) => a.purges.map((p) => p.id))).toEqual(["after"]);
  });

  it("marks what it serves while out of touch, and vouches for it on the stream once the global object answers", async () => {
    const { plane, relay, calls, setDown } = relayed();
    hold(relay, isolate(0), 3000);
    await sleep(20);
    setDown(true);
    // The held upstream sync (300 ms) ends, the next fails: the relay backs off, its snapshot unconfirmed.
    const failedAt = calls.sync + 1;
    for (let i = 0; i < 20 && calls.sync < failedAt; i++) await sleep(50);
    // A purge the relay cannot hear of: a cold isolate must not take the relay's old state as current.
    await plane.purge([url("/while-away")], false, "away");
    const cold = hold(relay, isolate(1), 3000);
    await sleep(10);
    expect(cold.answers).toHaveLength(1);
    expect(cold.answers[0].unconfirmed).toBe(true);
    expect(cold.answers[0].purges).toEqual([]);
    setDown(false);
    // Back: the stream that was sent an unconfirmed answer gets the news, vouched for.
    for (let i = 0; i < 40 && cold.answers.length < 2; i++) await sleep(100);
    expect(cold.answers[1].unconfirmed).toBeUndefined();
    expect(cold.answers[1].purges.map((p) => p.id)).toEqual(["away"]);
  });

  it("vouches on the stream once back even when nothing changed, so an isolate need not wait for its bound", async () => {
    const { relay, calls, setDown } = relayed();
    hold(relay, isolate(0), 3000);
    await sleep(20);
    setDown(true);
    const failedAt = calls.sync + 1;
    for (let i = 0; i < 20 && calls.sync < failedAt; i++) await sleep(50);
    const cold = hold(relay, isolate(1), 5000);
    await sleep(10);
    expect(cold.answers[0].unconfirmed).toBe(true);
    setDown(false);
    for (let i = 0; i < 40 && cold.answers.length < 2; i++) await sleep(100);
    expect(cold.answers).toHaveLength(2);
    expect(cold.answers[1].unconfirmed).toBeUndefined();
  });

  it("asks upstream for a new isolate once a second at most while it backs off, so one arriving after the global object is back gets its news", async () => {
    const { plane, relay, calls, setDown } = await backingOff();
    setDown(false);
    await plane.purge([url("/meanwhile")], false, "meanwhile");
    await sleep(1100);
    const cold = hold(relay, isolate(1), 0);
    await cold.done;
    expect(cold.answers[0].unconfirmed).toBeUndefined();
    expect(cold.answers[0].purges.map((p) => p.id)).toEqual(["meanwhile"]);
    // Within a second of that try, another new isolate is served what the relay has, asking nothing more.
    const asked = calls.sync;
    await hold(relay, isolate(2), 0).done;
    expect(calls.sync).toBe(asked);
  }, 10_000);

  it("answers within a second when the global object hangs, marked unconfirmed, rather than with it", async () => {
    const { relay, setDown, setHung } = await backingOff();
    // Out of touch, in a 2 s backoff; the global object now hangs instead of failing.
    setDown(false);
    setHung(true);
    await sleep(1100);
    const started = Date.now();
    const cold = hold(relay, isolate(1), 0);
    await cold.done;
    expect(Date.now() - started).toBeLessThan(1500);
    expect(cold.answers[0].unconfirmed).toBe(true);
  }, 10_000);

  it("answers at once an isolate that says its last answer was unconfirmed, news or not, once it can vouch", async () => {
    const { relay } = relayed();
    const opening = hold(relay, isolate(0), 0);
    await opening.done;
    const { purgeSeq, purgeEpoch, version } = opening.answers[0];
    // In step with the relay, but unsure of it: it is not held to its bound for a vouched answer.
    const held = hold(relay, { ...isolate(1, purgeSeq, purgeEpoch), have: version, unconfirmed: true }, 3000);
    await sleep(20);
    expect(held.answers).toHaveLength(1);
    expect(held.answers[0].unconfirmed).toBeUndefined();
    // One that is sure of its state is held as before.
    const sure = hold(relay, { ...isolate(2, purgeSeq, purgeEpoch), have: version }, 3000);
    await sleep(20);
    expect(sure.answers).toHaveLength(0);
  });

  it("holds its own sync upstream again at once when an isolate's call finds the global object back", async () => {
    const { plane, relay, setDown, first } = await backingOff(8000);
    setDown(false);
    await sleep(1100);
    // A new isolate's sync makes the relay ask, and it is back in touch...
    await hold(relay, isolate(1), 0).done;
    // ...so a purge now reaches the held isolate at once, not after the rest of the backoff.
    const seen = first.answers.length;
    await plane.purge([url("/right-after")], false, "right-after");
    await sleep(200);
    expect(first.answers.slice(seen).flatMap((a) => a.purges.map((p) => p.id))).toEqual(["right-after"]);
  }, 10_000);

  it("backs off its forwards while the global object is down, however often its isolates arm syncs", async () => {
    const { relay, calls, setDown } = relayed();
    const opening = hold(relay, isolate(0), 0);
    await opening.done;
    await sleep(1100); // the opening's batch has gone
    setDown(true);
    const before = calls.forward;
    // An isolate arming a sync every 100 ms: each is a position to forward.
    for (let n = 0; n < 45; n++) {
      hold(relay, isolate(n), 0);
      await sleep(100);
    }
    // 4.5 s down: a batch a second would be 4-5 calls; backing off (the failures double its wait) far fewer.
    expect(calls.forward - before).toBeLessThanOrEqual(2);
    const down = calls.forward;
    setDown(false);
    // Back: what waited goes up once the relay's own sync gets through (its backoff, then a flush interval).
    for (let i = 0; i < 45 && calls.forward === down; i++) await sleep(100);
    expect(calls.forward).toBeGreaterThan(down);
  }, 12_000);

  it("sends a batch again after its own backoff when it alone failed, not at the relay's next sync answer", async () => {
    // The relay's own sync is held 5 s and answers fine; one forward fails.
    const { relay, calls, failForwards } = relayed(50, 5000);
    failForwards(1);
    const opening = hold(relay, isolate(0), 0);
    await opening.done;
    for (let i = 0; i < 30 && calls.forward < 2; i++) await sleep(100);
    expect(calls.forward).toBe(2);
  });

  it("refuses a sync it cannot serve: a relay whose first upstream sync fails has no snapshot", async () => {
    const { relay, setDown } = relayed();
    setDown(true);
    await expect(relay.sync(isolate(0), 0, () => true)).rejects.toBeInstanceOf(RelayUnavailable);
  });

  it("stamps each answer when it is sent, so the isolate reads the control plane's clock right", async () => {
    const { relay } = relayed();
    await hold(relay, isolate(0), 0).done;
    await sleep(300);
    const sentAt = Date.now();
    const late = hold(relay, isolate(1), 0);
    await late.done;
    expect(late.answers[0].generatedAt).toBeGreaterThanOrEqual(sentAt);
  });

  it("tells an isolate of another epoch to start from zero", async () => {
    const { plane, relay } = relayed();
    await plane.purge([url("/a")], false, "a");
    const { answers } = hold(relay, isolate(0, 7, "an-old-epoch"), 0);
    await sleep(10);
    expect(answers[0].purgeEpoch).not.toBe("an-old-epoch");
    expect(answers[0].purges.map((p) => p.id)).toEqual(["a"]);
  });
});
