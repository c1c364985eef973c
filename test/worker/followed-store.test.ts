/**
 * The shield's SQLite store read while it is written (SqlStore.follow), inside
 * a real Shield Durable Object: what lets every client of one large fill share
 * it, each at its own pace.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { UNKNOWN_SIZE } from "../../edge/cache/entry";
import { SqlStore } from "../../edge/cache/sql-store";
import { bodyOf, bytes, entry, same } from "./store-fixtures";

let unique = 0;
const key = () => `https://cdn.test/followed/${Date.now()}-${++unique}`;

/** A body the test feeds piece by piece, as an origin sends it. */
function fed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { stream, send: (piece: Uint8Array) => controller.enqueue(piece), end: () => controller.close(), fail: (e: Error) => controller.error(e) };
}

/** Lets the store's writer take what it was sent. */
const turn = () => new Promise((resolve) => setTimeout(resolve, 20));

function inShard(test: (store: SqlStore, clock: { ms: number }) => Promise<void>) {
  const ns = (env as { SHIELD: DurableObjectNamespace }).SHIELD;
  const clock = { ms: 1_000_000 };
  return runInDurableObject(ns.get(ns.idFromName(`followed-${Date.now()}-${++unique}`)), (_instance, state) =>
    test(new SqlStore(state.storage.sql, 64 * 1024 * 1024, () => clock.ms), clock),
  );
}

describe("shield SQLite store, followed as it is written", () => {
  it("gives every reader the whole body, the first bytes before the rest has come", () =>
    inShard(async (store) => {
      const k = key();
      // 10 MiB: well past the rows the writer keeps in memory, so their buffers are filled again meanwhile.
      const body = bytes(10 * 1024 * 1024 + 5, 17);
      const origin = fed();
      const putting = store.put(k, entry(body.byteLength), origin.stream, 60, 7);
      const first = store.follow(k);
      const second = store.follow(k);
      expect(first?.storedAt).toBe(7);
      const early = first!.body.getReader();
      origin.send(body.slice(0, 100_000));
      await first!.started;
      // Read while the origin has sent a hundredth of the body and nothing more.
      const { value } = await early.read();
      expect(value && same(value, body.slice(0, value.byteLength))).toBe(true);
      const chunks = [value!];
      const firstRest = (async () => {
        for (let next = await early.read(); !next.done; next = await early.read()) chunks.push(next.value);
      })();
      const secondWhole = bodyOf(second!.body);
      for (let at = 100_000; at < body.byteLength; at += 250_000) {
        origin.send(body.slice(at, at + 250_000));
        await turn();
      }
      origin.end();
      await putting;
      await firstRest;
      expect(same(await bodyOf(new Blob(chunks).stream()), body)).toBe(true);
      expect(same(await secondWhole, body)).toBe(true);
      // Whole, it is the entry, and no put is under way to follow.
      expect(store.follow(k)).toBeUndefined();
      expect(same(await bodyOf((await store.get(k))!.body as ReadableStream<Uint8Array>), body)).toBe(true);
    }));

  it("errors its readers, and keeps nothing, when the body fails on its way in", () =>
    inShard(async (store) => {
      const k = key();
      const origin = fed();
      const putting = store.put(k, entry(5_000_000), origin.stream, 60, 1);
      const reader = store.follow(k)!;
      origin.send(bytes(200_000, 3));
      await reader.started;
      origin.fail(new Error("origin went away"));
      await expect(putting).rejects.toThrow("origin went away");
      await expect(bodyOf(reader.body)).rejects.toThrow("origin went away");
      expect(await store.get(k)).toBeUndefined();
    }));

  it("says a put failed before its first bytes were stored", () =>
    inShard(async (store) => {
      const k = key();
      const origin = fed();
      const putting = store.put(k, entry(5_000_000), origin.stream, 60, 1);
      const reader = store.follow(k)!;
      origin.fail(new Error("reset"));
      await expect(putting).rejects.toThrow("reset");
      await expect(reader.started).rejects.toThrow("reset");
    }));

  it("follows only a streamed body of known size", () =>
    inShard(async (store) => {
      const whole = key();
      const putting = store.put(whole, entry(10), bytes(10, 3), 60, 1);
      expect(store.follow(whole)).toBeUndefined();
      await putting;
      const unknown = key();
      const origin = fed();
      const streaming = store.put(unknown, entry(UNKNOWN_SIZE), origin.stream, 60, 1);
      expect(store.follow(unknown)).toBeUndefined();
      origin.end();
      await streaming;
    }));

  it("writes a trickling body in short rows, and reads a small one of several rows back whole", () =>
    inShard(async (store, clock) => {
      // Each piece comes a second after the last: each is a row of its own, for its readers' sake.
      const k = key();
      const body = bytes(5_000, 11);
      const origin = fed();
      const putting = store.put(k, entry(body.byteLength), origin.stream, 60, 1);
      const reader = store.follow(k)!.body.getReader();
      for (let at = 0; at < body.byteLength; at += 1_000) {
        clock.ms += 1_000;
        origin.send(body.slice(at, at + 1_000));
        const { value } = await reader.read();
        expect(value && same(value, body.slice(at, at + 1_000))).toBe(true);
      }
      origin.end();
      await putting;
      expect(same((await store.get(k))!.body as Uint8Array, body)).toBe(true);
    }));

  it("stores a body of one row whole, its row written once the body has come", () =>
    // The first row reaches its readers before it is written (so the answer's first bytes leave
    // before the first write holds the Durable Object's output); a body of that one row is written at its end.
    inShard(async (store) => {
      const k = key();
      const body = bytes(10_000, 7);
      const origin = fed();
      const putting = store.put(k, entry(body.byteLength), origin.stream, 60, 1);
      const reader = store.follow(k)!;
      origin.send(body);
      origin.end();
      await putting;
      expect(same(await bodyOf(reader.body), body)).toBe(true);
      expect(same(await bodyOf((await store.get(k))!.body), body)).toBe(true);
    }));
});
