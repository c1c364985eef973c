/**
 * One contract for every store (undici runs its cache-store tests the same
 * way): the in-isolate memory tier, the POP's Cache API, and the shield's
 * SQLite storage inside a real Shield Durable Object.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CacheApiTier } from "../../edge/cache/cache-api-tier";
import type { StoredRecord } from "../../edge/cache/entry";
import { MemoryTier, memoryStore } from "../../edge/cache/memory-tier";
import { SqlStore } from "../../edge/cache/sql-store";
import type { CacheStore } from "../../edge/cache/store";
import { bodyOf, bytes, entry, same } from "./store-fixtures";

type Runner = (test: (store: CacheStore) => Promise<void>) => Promise<void>;

let unique = 0;
const key = () => `https://cdn.test/contract/${Date.now()}-${++unique}`;

function contract(name: string, run: Runner, options: { largeBody: boolean }) {
  describe(`${name} store`, () => {
    it("returns what was put: record, body and when", () =>
      run(async (store) => {
        const k = key();
        await store.put(k, entry(1000), bytes(1000), 60, 1234);
        const got = await store.get(k);
        expect(got?.record).toEqual(entry(1000));
        expect(got?.storedAt).toBe(1234);
        expect(same(await bodyOf(got!.body), bytes(1000))).toBe(true);
      }));
    it("keeps a vary manifest, which has no body", () =>
      run(async (store) => {
        const k = key();
        const manifest: StoredRecord = { kind: "vary", manifest: { v: 1, vary: ["accept-language"], since: 5 } };
        await store.put(k, manifest, null, 60, 10);
        expect((await store.get(k))?.record).toEqual(manifest);
      }));
    it("replaces an entry put again under the same key", () =>
      run(async (store) => {
        const k = key();
        await store.put(k, entry(10), bytes(10), 60, 1);
        await store.put(k, entry(20), bytes(20, 3), 60, 2);
        const got = await store.get(k);
        expect(got?.storedAt).toBe(2);
        expect(same(await bodyOf(got!.body), bytes(20, 3))).toBe(true);
      }));
    it("forgets a deleted entry, says whether there was one, and reads a missing key as absent", () =>
      run(async (store) => {
        const k = key();
        await store.put(k, entry(5), bytes(5), 60, 1);
        expect(await store.delete(k)).toBe(true);
        expect(await store.get(k)).toBeUndefined();
        expect(await store.delete(k)).toBe(false);
      }));
    it("keeps nothing of a body that fails while it is stored", () =>
      run(async (store) => {
        const k = key();
        let sent = 0;
        const failing = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ < 3) controller.enqueue(bytes(1000));
            else controller.error(new Error("origin went away"));
          },
        });
        await expect(store.put(k, entry(10_000), failing, 60, 1)).rejects.toThrow();
        expect(await store.get(k)).toBeUndefined();
      }));
    if (options.largeBody) {
      it("keeps a body larger than one storage row (3 MB) whole", () =>
        run(async (store) => {
          const k = key();
          const big = bytes(3 * 1024 * 1024, 13);
          await store.put(k, entry(big.byteLength), big, 60, 1);
          expect(same(await bodyOf((await store.get(k))!.body), big)).toBe(true);
        }));
    }
  });
}

describe("Cache API store, streaming", () => {
  it("keeps nothing of a streamed body that ends short of the size its record declares", async () => {
    // Told the length up front (FixedLengthStream), the put fails; before, 3,000 of 10,000 bytes were kept as the whole entry.
    const store = new CacheApiTier(caches.default);
    const k = key();
    const short = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes(3000));
        controller.close();
      },
    });
    await expect(store.put(k, entry(10_000), short, 60, 1)).rejects.toThrow();
    expect(await store.get(k)).toBeUndefined();
  });

  it("keeps a large whole body, and leaves the bytes it was given as they were", async () => {
    // The memory tier holds the same bytes: a put that took their buffer would empty its copy.
    const store = new CacheApiTier(caches.default);
    const k = key();
    const big = bytes(1024 * 1024 + 3, 23);
    const given = big.slice();
    await store.put(k, entry(big.byteLength), given, 60, 1);
    expect(same(given, big)).toBe(true);
    expect(same(await bodyOf((await store.get(k))!.body), big)).toBe(true);
  });

  it("reads a range itself, and only of the entry the lookup found", async () => {
    const store = new CacheApiTier(caches.default);
    const k = key();
    const big = bytes(3 * 1024 * 1024 + 11, 29);
    await store.put(k, entry(big.byteLength), big, 60, 5);
    const stored = { storedAt: 5, size: big.byteLength };
    const tail = await store.getRange(k, big.byteLength - 100, big.byteLength - 1, stored);
    expect(same(await bodyOf(tail ?? null), big.subarray(big.byteLength - 100))).toBe(true);
    const middle = await store.getRange(k, 2_000_000, 2_000_999, stored);
    expect(same(await bodyOf(middle ?? null), big.subarray(2_000_000, 2_001_000))).toBe(true);
    // Replaced since the lookup (another put), or not the size the lookup read: not this entry's bytes.
    expect(await store.getRange(k, 0, 9, { storedAt: 4, size: big.byteLength })).toBeUndefined();
    expect(await store.getRange(k, 0, 9, { storedAt: 5, size: big.byteLength + 1 })).toBeUndefined();
    expect(await store.getRange(`${k}-absent`, 0, 9, stored)).toBeUndefined();
  });

  it("keeps a streamed body of the declared size whole", async () => {
    const store = new CacheApiTier(caches.default);
    const k = key();
    const big = bytes(2 * 1024 * 1024 + 5, 17);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < big.byteLength; at += 300_000) controller.enqueue(big.slice(at, at + 300_000));
        controller.close();
      },
    });
    await store.put(k, entry(big.byteLength), stream, 60, 1);
    expect(same(await bodyOf((await store.get(k))!.body), big)).toBe(true);
  });
});

contract("memory", (test) => test(memoryStore(new MemoryTier(64 * 1024 * 1024))), { largeBody: true });
contract("Cache API", (test) => test(new CacheApiTier(caches.default)), { largeBody: true });
contract(
  "shield SQLite",
  (test) => {
    const ns = (env as { SHIELD: DurableObjectNamespace }).SHIELD;
    return runInDurableObject(ns.get(ns.idFromName(`contract-${Date.now()}-${++unique}`)), (_instance, state) => test(new SqlStore(state.storage.sql, 64 * 1024 * 1024)));
  },
  { largeBody: true },
);

describe("shield SQLite store, streaming", () => {
  const inShard = (test: (store: SqlStore) => Promise<void>) => {
    const ns = (env as { SHIELD: DurableObjectNamespace }).SHIELD;
    return runInDurableObject(ns.get(ns.idFromName(`stream-${Date.now()}-${++unique}`)), (_instance, state) => test(new SqlStore(state.storage.sql, 64 * 1024 * 1024)));
  };
  const streamOf = (body: Uint8Array, piece = 100_000) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < body.byteLength; at += piece) controller.enqueue(body.slice(at, at + piece));
        controller.close();
      },
    });

  it("takes a body as it streams and gives a large one back as a stream, chunk by chunk", () =>
    inShard(async (store) => {
      const k = key();
      const big = bytes(5 * 1024 * 1024 + 123, 11);
      await store.put(k, entry(big.byteLength), streamOf(big), 60, 1);
      const got = await store.get(k);
      expect(got?.body).toBeInstanceOf(ReadableStream);
      expect(same(await bodyOf(got!.body), big)).toBe(true);
    }));

  it.each([
    { what: "ends short of", sent: 2_000_000 },
    { what: "runs past", sent: 4_000_000 },
  ])("keeps nothing of a streamed body that $what the size its record declares", ({ sent }) =>
    // Streamed bodies of known size reach the store uncounted (Tiers.keepStreamed): the size is the store's to hold to.
    inShard(async (store) => {
      const k = key();
      await expect(store.put(k, entry(3_000_000), streamOf(bytes(sent)), 60, 1)).rejects.toThrow(/bytes for an entry of 3000000/);
      expect(await store.get(k)).toBeUndefined();
    }),
  );

  it("reads a byte stream (the runtime's) straight into its rows, every byte", () =>
    inShard(async (store) => {
      const k = key();
      const big = bytes(3 * 1024 * 1024 + 77, 19);
      const carrier = new FixedLengthStream(big.byteLength);
      const writer = carrier.writable.getWriter();
      // Pieces that straddle rows, written as the store reads: a row buffer reused too soon would show.
      const writing = (async () => {
        for (let at = 0; at < big.byteLength; at += 333_333) await writer.write(big.slice(at, at + 333_333));
        await writer.close();
      })();
      await store.put(k, entry(big.byteLength), carrier.readable, 60, 1);
      await writing;
      expect(same(await bodyOf((await store.get(k))!.body), big)).toBe(true);
    }));

  it("refuses a byte stream past its bound, and keeps nothing of it", () =>
    runInDurableObject(
      (env as { SHIELD: DurableObjectNamespace }).SHIELD.get((env as { SHIELD: DurableObjectNamespace }).SHIELD.idFromName(`bound-${++unique}`)),
      async (_instance, state) => {
        const store = new SqlStore(state.storage.sql, 2 * 1024 * 1024);
        const k = key();
        const big = bytes(3 * 1024 * 1024, 5);
        const stream = new ReadableStream({
          type: "bytes",
          start(controller) {
            for (let at = 0; at < big.byteLength; at += 500_000) controller.enqueue(big.slice(at, at + 500_000));
            controller.close();
          },
        });
        await expect(store.put(k, entry(big.byteLength), stream, 60, 1)).rejects.toThrow(/exceeds the store's/);
        expect(await store.get(k)).toBeUndefined();
      },
    ));

  it("keeps the old entry when a body replacing it fails on its way in", () =>
    inShard(async (store) => {
      const k = key();
      await store.put(k, entry(3000), bytes(3000), 60, 1);
      let sent = 0;
      const failing = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 20) controller.enqueue(bytes(200_000));
          else controller.error(new Error("origin went away"));
        },
      });
      await expect(store.put(k, entry(10_000_000), failing, 60, 2)).rejects.toThrow();
      const got = await store.get(k);
      expect(got?.storedAt).toBe(1);
      expect(same(await bodyOf(got!.body), bytes(3000))).toBe(true);
    }));

  it("ends a read in an error, not in another body's bytes, when the entry is replaced meanwhile", () =>
    inShard(async (store) => {
      const k = key();
      await store.put(k, entry(3 * 1024 * 1024), bytes(3 * 1024 * 1024, 3), 60, 1);
      const reading = (await store.get(k))!.body as ReadableStream<Uint8Array>;
      const reader = reading.getReader();
      await reader.read();
      await store.put(k, entry(3 * 1024 * 1024), bytes(3 * 1024 * 1024, 5), 60, 1);
      await expect(
        (async () => {
          for (;;) if ((await reader.read()).done) return;
        })(),
      ).rejects.toThrow(/changed while it was read/);
    }));
});
