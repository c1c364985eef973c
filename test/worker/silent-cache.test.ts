/**
 * A colo cache that goes silent, inside workerd: the real Cache API behind a
 * store that can hold its reads back or never take a put's body. A lookup it
 * does not answer goes forward as a miss within cache.lookupTimeoutMs (and
 * its late answer never replaces what the fill brought); a put it does not
 * read is given up after cache.storeIdleTimeoutMs, and the client that the
 * copy was taken from gets its whole answer; an unsafe method's answer
 * waits for the store's delete at most cache.lookupTimeoutMs, and a hit
 * whose stored body stalls is cut within it.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CacheApiTier } from "../../edge/cache/cache-api-tier";
import type { CacheStore, StoredItem } from "../../edge/cache/store";
import { primaryKey } from "../../common/cache-key";
import type { Env } from "../../common/env";
import { handleEdgeRequest } from "../../edge/pipeline";
import { Pop } from "../../edge/pop";
import { STORE_BREAKER } from "../../edge/cache/store-breaker";

const LOOKUP_TIMEOUT_MS = 200;
const STORE_IDLE_TIMEOUT_MS = 200;

/**
 * The colo's real Cache API, whose reads can be held back once they have their
 * answer. The body comes back read whole, so what a read does with its answer
 * is done the moment the answer is let go.
 */
class HeldStore implements CacheStore {
  private readonly real = new CacheApiTier(caches.default);
  private hold: Promise<void> = Promise.resolve();
  private putsTaken = true;
  private deletesAnswered = true;
  private releaseHold = () => {};
  /** Reads asked of it, and puts that reached it. */
  reads = 0;
  puts = 0;
  /** The last read, settled once its answer is let go. */
  lastRead: Promise<unknown> = Promise.resolve();

  /** From now on a put never reads its body and never ends, as a cache that stopped answering. */
  stopTakingPuts(): void {
    this.putsTaken = false;
  }

  /** From now on a read's body gives its first `bytes` and then never another (a cache that stalls mid-body). */
  stallBodiesAfter(bytes: number): void {
    this.stallAfter = bytes;
  }
  private stallAfter: number | undefined;

  /** From now on a delete never answers. */
  stopAnsweringDeletes(): void {
    this.deletesAnswered = false;
  }

  holdReads(): void {
    this.hold = new Promise((resolve) => (this.releaseHold = resolve));
  }

  /** Lets the held reads answer; resolves once the last has done with its answer. */
  async release(): Promise<void> {
    this.releaseHold();
    await this.lastRead;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }

  get(key: string): Promise<StoredItem | undefined> {
    this.reads++;
    const read = (async () => {
      const answer = await this.real.get(key);
      const body = answer?.body ? new Uint8Array(await new Response(answer.body).arrayBuffer()) : null;
      await this.hold;
      if (body && this.stallAfter !== undefined) return answer && { ...answer, body: stalledAfter(body.subarray(0, this.stallAfter)) };
      return answer && { ...answer, body };
    })();
    this.lastRead = read;
    return read;
  }

  put: CacheStore["put"] = (...args) => {
    this.puts++;
    return this.putsTaken ? this.real.put(...args) : new Promise<never>(() => undefined);
  };
  delete: CacheStore["delete"] = (key) => (this.deletesAnswered ? this.real.delete(key) : new Promise<never>(() => undefined));
}

/** A byte stream of `start`, which then never ends. */
function stalledAfter(start: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (sent) return new Promise<void>(() => undefined);
      sent = true;
      controller.enqueue(start.slice());
    },
  });
}

/** Until the colo's Cache API holds `url` (a fill's put runs behind its response). */
async function storedInColo(url: string): Promise<void> {
  const key = primaryKey(new URL(url), { sortQuery: false, ignoreQueryParams: [] });
  const tier = new CacheApiTier(caches.default);
  for (let tries = 0; tries < 100; tries++) {
    const item = await tier.get(key);
    await item?.body?.cancel();
    if (item) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${key} was never stored`);
}

function popWith(store?: CacheStore): Pop {
  const config = JSON.parse((env as Env).OUTPOST_CONFIG) as Record<string, unknown>;
  const bounded = { ...(env as Env), OUTPOST_CONFIG: JSON.stringify({ ...config, cache: { lookupTimeoutMs: LOOKUP_TIMEOUT_MS, storeIdleTimeoutMs: STORE_IDLE_TIMEOUT_MS } }) };
  return new Pop(bounded, "Outpost-TST", store ? { store: () => store } : {});
}

/** One request through `pop`, without waiting for what it left running (its puts, its syncs). */
async function through(pop: Pop, url: string, init?: RequestInit): Promise<{ response: Response; body: string; ms: number }> {
  const started = Date.now();
  const response = await handleEdgeRequest(new Request(url, init), pop.env, createExecutionContext(), { pop, cf: {} as IncomingRequestCfProperties });
  const ms = Date.now() - started;
  return { response, body: await response.text(), ms };
}

let unique = 0;

describe("a colo cache that goes silent", () => {
  it("goes forward as a miss within lookupTimeoutMs, and the late answer never replaces the fill's", async () => {
    const url = `http://cdn.test/headers?cache-control=public,max-age=60&n=held-${Date.now()}-${++unique}`;
    const first = await through(popWith(), url);
    await storedInColo(url);

    const store = new HeldStore();
    const pop = popWith(store);
    store.holdReads();
    const second = await Promise.race([through(pop, url), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the held lookup held the request")), 5000))]);
    expect(second.response.status).toBe(200);
    expect(second.response.headers.get("cache-status")).toMatch(/^Outpost-TST;fwd=miss;fwd-status=200;ttl=\d+;stored$/);
    expect(second.body).not.toBe(first.body); // the origin answered again
    expect(second.ms).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT_MS - 5);
    expect(pop.counters.lookupTimeouts).toBe(1);
    expect(pop.counters.misses).toBe(1);

    // The held read now answers with the first, older copy: memory keeps the fill's.
    await store.release();
    const third = await through(pop, url);
    expect(third.response.headers.get("cache-status")).toMatch(/^Outpost-TST;hit;ttl=\d+$/);
    expect(third.body).toBe(second.body);
  });

  it("gives up a streamed copy the store stops taking, and the client gets every byte", async () => {
    const bytes = 3_000_000; // past cache.memoryEntryMaxBytes: stored as it streams, in step with its client
    const url = `http://cdn.test/gen/${bytes}?ttl=60&n=silent-${Date.now()}-${++unique}`;
    const store = new HeldStore();
    store.stopTakingPuts();
    const answer = await Promise.race([
      through(popWith(store), url),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the silent store held the client")), 5000)),
    ]);
    expect(answer.response.status).toBe(200);
    expect(answer.body.length).toBe(bytes);
  });

  it("cuts a hit whose stored body stalls within lookupTimeoutMs, never a wait without end", async () => {
    const bytes = 3_000_000; // past cache.memoryEntryMaxBytes: a hit streams it from the colo's cache
    const url = `http://cdn.test/gen/${bytes}?ttl=60&n=stalled-body-${Date.now()}-${++unique}`;
    await through(popWith(), url);
    await storedInColo(url);
    const store = new HeldStore();
    store.stallBodiesAfter(500_000);
    const started = Date.now();
    const response = await handleEdgeRequest(new Request(url), env as Env, createExecutionContext(), { pop: popWith(store), cf: {} as IncomingRequestCfProperties });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-status")).toMatch(/^Outpost-TST;hit;/);
    const read = response.arrayBuffer().then(
      () => "whole",
      () => "cut",
    );
    const outcome = await Promise.race([read, new Promise<string>((resolve) => setTimeout(() => resolve("still waiting"), 5000))]);
    expect(outcome).toBe("cut");
    expect(Date.now() - started).toBeLessThan(LOOKUP_TIMEOUT_MS + 2000);
  });

  it("answers an unsafe method within lookupTimeoutMs though the store never says whether it deleted", async () => {
    const store = new HeldStore();
    store.stopAnsweringDeletes();
    const url = `http://cdn.test/headers?n=silent-delete-${Date.now()}-${++unique}`;
    const answer = await Promise.race([
      through(popWith(store), url, { method: "POST", body: "{}" }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the silent store held the POST's answer")), 5000)),
    ]);
    expect(answer.response.status).toBe(200);
    expect(answer.response.headers.get("cache-status")).toMatch(/fwd=method/);
    expect(answer.ms).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT_MS - 5);
  });

  it("stops asking, and writing to, a store that leaves lookups unanswered in a row", async () => {
    const store = new HeldStore();
    store.holdReads(); // and never lets them go
    const pop = popWith(store);
    const fresh = () => `http://cdn.test/headers?cache-control=public,max-age=60&n=breaker-${Date.now()}-${++unique}`;
    for (let i = 0; i < STORE_BREAKER.threshold; i++) {
      const waited = await through(pop, fresh());
      expect(waited.response.headers.get("cache-status")).toMatch(/fwd=miss;/);
      expect(waited.ms).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT_MS - 5);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [reads, puts] = [store.reads, store.puts];
    const url = fresh();
    const skipped = await through(pop, url);
    expect(skipped.response.headers.get("cache-status")).toMatch(/^Outpost-TST;fwd=miss;fwd-status=200;ttl=\d+;stored$/);
    expect(skipped.ms).toBeLessThan(LOOKUP_TIMEOUT_MS);
    await new Promise((resolve) => setTimeout(resolve, 300)); // its copy would have been put by now
    expect(store.reads).toBe(reads);
    expect(store.puts).toBe(puts);
    expect(pop.counters.lookupTimeouts).toBe(STORE_BREAKER.threshold);
    expect(pop.counters.lookupsSkipped).toBe(1);
    // Memory still serves what that fill brought.
    const again = await through(pop, url);
    expect(again.response.headers.get("cache-status")).toMatch(/^Outpost-TST;hit;/);
    expect(again.body).toBe(skipped.body);
    await store.release();
  });
});
