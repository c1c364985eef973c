/** splitFill: the client streams, the store and followers get the whole body at the origin's pace. */
import { describe, expect, it } from "vitest";
import { CacheSchema } from "../common/cache-config";
import { buildEntryMeta } from "./cache/record";
import { MemoryTier } from "./cache/memory-tier";
import type { CacheStore } from "./cache/store";
import { Tiers } from "./cache/tiers";
import { splitFill } from "./split-fill";

const chunk = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

function sourceOf(chunks: Uint8Array[], failAfter?: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (failAfter !== undefined && i === failAfter) return controller.error(new Error("connection reset"));
      if (i === chunks.length) return controller.close();
      controller.enqueue(chunks[i++]);
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  return [...new Uint8Array(await new Response(stream).arrayBuffer())];
}

describe("splitFill", () => {
  it("collects a body within the limit while its client has not read a byte", async () => {
    const split = splitFill(sourceOf([chunk(3, 1), chunk(3, 2)]), 100);
    const kept = await split.kept;
    expect(kept.kind).toBe("complete");
    if (kept.kind === "complete") expect([...kept.bytes]).toEqual([1, 1, 1, 2, 2, 2]);
    expect(await readAll(split.toClient)).toEqual([1, 1, 1, 2, 2, 2]);
  });

  it("keeps collecting for the store when its client goes away", async () => {
    const split = splitFill(sourceOf([chunk(3, 1), chunk(3, 2)]), 100);
    await split.toClient.cancel();
    const kept = await split.kept;
    expect(kept.kind === "complete" && kept.bytes.byteLength).toBe(6);
  });

  it("past the limit, gives the client and the store every byte, in step", async () => {
    const parts = [chunk(4, 1), chunk(4, 2), chunk(4, 3), chunk(4, 4)];
    const split = splitFill(sourceOf(parts), 5);
    const client = readAll(split.toClient);
    const kept = await split.kept;
    expect(kept.kind).toBe("stream");
    const stored = kept.kind === "stream" ? await readAll(kept.stream) : [];
    const expected = parts.flatMap((p) => [...p]);
    expect(stored).toEqual(expected);
    expect(await client).toEqual(expected);
  });

  it("errors the client's stream (never a clean short end) and rejects the store's when the body breaks off", async () => {
    const split = splitFill(sourceOf([chunk(4, 1), chunk(4, 2), chunk(4, 3)], 2), 100);
    await expect(split.kept).rejects.toThrow(/reset/);
    await expect(readAll(split.toClient)).rejects.toThrow(/reset/);
  });

  it("tells when the client's branch has ended: read whole, or gone", async () => {
    const whole = splitFill(sourceOf([chunk(3, 1), chunk(3, 2)]), 100);
    let delivered = false;
    void whole.delivered.then(() => (delivered = true));
    await whole.kept;
    await new Promise((r) => setTimeout(r, 5));
    expect(delivered).toBe(false);
    await readAll(whole.toClient);
    await whole.delivered;
    const gone = splitFill(sourceOf([chunk(3, 1)]), 100);
    await gone.toClient.cancel();
    await gone.delivered;
  });
});

describe("a whole body's second-tier write", () => {
  it("waits for what it is told to (the client's answer), while memory has the body at once", async () => {
    const puts: string[] = [];
    const second: CacheStore = {
      get: async () => undefined,
      put: async (key) => void puts.push(key),
      delete: async () => false,
    };
    const config = CacheSchema.parse({});
    const tiers = new Tiers(new MemoryTier(1 << 20), () => second, config);
    const meta = buildEntryMeta({
      key: "https://a.test/x",
      status: 200,
      headers: new Headers({ "cache-control": "max-age=60" }),
      requestTime: 1,
      responseTime: 2,
      size: 3,
      originId: "o",
    });
    let answered!: () => void;
    const kept = tiers.keep("https://a.test/x", meta, chunk(3), Date.now(), new Promise<void>((r) => (answered = r)));
    expect(tiers.memory.get("https://a.test/x")).toBeDefined();
    await new Promise((r) => setTimeout(r, 5));
    expect(puts).toEqual([]);
    answered();
    expect(await kept).toBe(true);
    expect(puts).toEqual(["https://a.test/x"]);
  });
});
