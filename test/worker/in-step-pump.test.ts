/**
 * A miss too large for memory, sent and stored in step by the runtime's own
 * streams (in-step-pump.ts), in workerd itself: both streams get every byte
 * through one reused buffer; the slower paces both; a store that stops taking
 * chunks is given up while the client reads on; a client gone leaves the
 * store reading; a body that fails errors both, before its first bytes as a
 * rejection its caller can retry.
 */
import { describe, expect, it } from "vitest";
import { type InStepOptions, sendAndStoreByRuntime } from "../../edge/framed-body";
import { guardOriginBody } from "../../edge/origin-body-guard";
import { origin, outcomes, patterned } from "./origin-bodies";

function joined(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const options = (length: number, more: Partial<InStepOptions> = {}): InStepOptions => ({
  length,
  firstBytes: { bytes: 16 * 1024, ms: Infinity },
  deadline: Infinity,
  storeIdleMs: 5000,
  ...more,
});

const bytesOf = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

describe("a miss sent and stored in step", () => {
  it("gives both streams every byte, as the origin sent it, through a reused buffer", async () => {
    // Chunks larger and smaller than the pump's buffer: one overwritten too soon would show in either stream.
    const chunks = [...patterned(5, 300_000), ...patterned(40, 5_000), ...patterned(3, 70_000)];
    const want = joined(chunks);
    const { seen, outcome } = outcomes();
    const both = await sendAndStoreByRuntime(guardOriginBody(origin(chunks, "end"), 1000, outcome), options(want.byteLength));
    expect(both).toBeDefined();
    const [client, store] = await Promise.all([bytesOf(both!.client), bytesOf(both!.store)]);
    expect(sameBytes(client, want)).toBe(true);
    expect(sameBytes(store, want)).toBe(true);
    expect(seen.failure).toBeUndefined();
    expect(seen).toMatchObject({ complete: 1, bytes: want.byteLength });
  });

  it("paces both by the slower: the store waits for a slow client", async () => {
    const chunks = patterned(8, 100_000);
    const both = await sendAndStoreByRuntime(guardOriginBody(origin(chunks, "end"), 1000), options(800_000));
    const client = both!.client.getReader();
    const storing = bytesOf(both!.store);
    let storeDone = false;
    void storing.then(() => (storeDone = true));
    await client.read();
    await new Promise((r) => setTimeout(r, 100));
    // The client took a chunk or two; the store cannot have the whole body yet.
    expect(storeDone).toBe(false);
    for (;;) if ((await client.read()).done) break;
    expect(sameBytes(await storing, joined(chunks))).toBe(true);
  });

  it("gives a slow store every byte, as the client does", async () => {
    const chunks = [...patterned(4, 300_000), ...patterned(6, 20_000)];
    const both = await sendAndStoreByRuntime(guardOriginBody(origin(chunks, "end"), 1000), options(1_320_000));
    const slowly = async (stream: ReadableStream<Uint8Array>) => {
      const parts: Uint8Array[] = [];
      // A default read of the runtime's stream takes about 4 KiB: a pause every 16th keeps the store well behind the client.
      for (let reads = 0, reader = stream.getReader(); ; reads++) {
        if (reads % 16 === 0) await new Promise((r) => setTimeout(r, 15));
        const { done, value } = await reader.read();
        if (done) return joined(parts);
        parts.push(value.slice());
      }
    };
    const [client, store] = await Promise.all([bytesOf(both!.client), slowly(both!.store)]);
    expect(sameBytes(client, joined(chunks))).toBe(true);
    expect(sameBytes(store, joined(chunks))).toBe(true);
  });

  it("gives the store up when it takes no chunk, and the client reads on", async () => {
    const chunks = patterned(6, 100_000);
    const both = await sendAndStoreByRuntime(guardOriginBody(origin(chunks, "end"), 1000), options(600_000, { storeIdleMs: 100 }));
    const store = both!.store.getReader();
    await store.read();
    // The store stops reading; the client still gets every byte.
    expect(sameBytes(await bytesOf(both!.client), joined(chunks))).toBe(true);
    await expect(store.read()).rejects.toThrow(/given up/);
  });

  it("stores the whole body when the client goes, and holds nothing against the origin", async () => {
    const chunks = patterned(6, 100_000);
    const { seen, outcome } = outcomes();
    const both = await sendAndStoreByRuntime(guardOriginBody(origin(chunks, "end"), 1000, outcome), options(600_000));
    const client = both!.client.getReader();
    await client.read();
    await client.cancel();
    expect(sameBytes(await bytesOf(both!.store), joined(chunks))).toBe(true);
    expect(seen.failure).toBeUndefined();
    expect(seen.complete).toBe(1);
  });

  it.each([
    { what: "stalls", ending: "stall", length: 1_000_000, kind: "stalled" },
    { what: "breaks off", ending: "break", length: 1_000_000, kind: "broken" },
    { what: "ends short of its length", ending: "end", length: 1_000_000, kind: "broken" },
    { what: "goes past its length", ending: "end", length: 250_000, kind: "broken" },
  ] as const)("errors both streams when the origin $what after its first bytes", async ({ ending, length, kind }) => {
    const { seen, outcome } = outcomes();
    const both = await sendAndStoreByRuntime(guardOriginBody(origin(patterned(3, 100_000), ending), 200, outcome), options(length));
    const [client, store] = await Promise.allSettled([bytesOf(both!.client), bytesOf(both!.store)]);
    expect(client.status).toBe("rejected");
    expect(store.status).toBe("rejected");
    expect(seen.failure?.kind).toBe(kind);
    expect(seen.complete).toBe(0);
  });

  it.each([
    { what: "stalls", ending: "stall", kind: "stalled" },
    { what: "breaks off", ending: "break", kind: "broken" },
  ] as const)("rejects, for its caller to retry, when the origin $what before its first bytes", async ({ ending, kind }) => {
    const { seen, outcome } = outcomes();
    const both = sendAndStoreByRuntime(guardOriginBody(origin(patterned(1, 4_000), ending), 200, outcome), options(1_000_000));
    await expect(both).rejects.toMatchObject({ kind });
    expect(seen.failure?.kind).toBe(kind);
  });

  /** A byte stream of `head`, then, `pauseMs` later, `rest` and its end (or nothing more: a stall). */
  const flushedHead = (head: Uint8Array, pauseMs: number, rest?: Uint8Array[]) => {
    let step = 0;
    return new ReadableStream({
      type: "bytes",
      async pull(controller) {
        if (step++ === 0) return controller.enqueue(head.slice());
        await new Promise((r) => setTimeout(r, pauseMs));
        if (!rest) return new Promise<void>(() => undefined);
        for (const chunk of rest) controller.enqueue(chunk.slice());
        controller.close();
      },
    });
  };

  it("starts both streams firstBytes.ms after a flushed head, with a read in flight, and gives every byte", async () => {
    const [head, ...rest] = [...patterned(1, 2_000), ...patterned(4, 300_000)];
    const want = joined([head, ...rest]);
    const { seen, outcome } = outcomes();
    const started = Date.now();
    const both = await sendAndStoreByRuntime(guardOriginBody(flushedHead(head, 400, rest), 2000, outcome), options(want.byteLength, { firstBytes: { bytes: 16 * 1024, ms: 20 } }));
    // The origin pauses 400 ms after its head: the streams did not wait for it.
    expect(Date.now() - started).toBeLessThan(300);
    const [client, store] = await Promise.all([bytesOf(both!.client), bytesOf(both!.store)]);
    expect(sameBytes(client, want)).toBe(true);
    expect(sameBytes(store, want)).toBe(true);
    expect(seen).toMatchObject({ complete: 1, bytes: want.byteLength });
  });

  it("errors both streams when the origin stalls after the head they started with", async () => {
    const { seen, outcome } = outcomes();
    const both = await sendAndStoreByRuntime(
      guardOriginBody(flushedHead(patterned(1, 2_000)[0], 0), 200, outcome),
      options(1_000_000, { firstBytes: { bytes: 16 * 1024, ms: 20 } }),
    );
    const [client, store] = await Promise.allSettled([bytesOf(both!.client), bytesOf(both!.store)]);
    expect(client.status).toBe("rejected");
    expect(store.status).toBe("rejected");
    expect(seen.failure?.kind).toBe("stalled");
  });

  it("is not offered once the guarded stream has been read", async () => {
    const guarded = guardOriginBody(origin(patterned(2, 1000), "end"), 1000);
    const reader = guarded.getReader();
    await reader.read();
    reader.releaseLock();
    expect(sendAndStoreByRuntime(guarded, options(2000))).toBeUndefined();
  });
});
