/**
 * Memory per request and per isolate stays bounded, whatever a client or an
 * origin does: a slow reader paces a teed body instead of being buffered for,
 * decoding is pulled and capped, and the memory tier counts keys and fields,
 * not bodies alone. Pure stream and data-structure code, run in Node.
 */
import { randomBytes } from "node:crypto";
import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { concat, guardClientBody, readBounded, teeInStep } from "../../edge/body";
import { FIRST_READ_BYTES, READ_CHUNK_BYTES } from "../../edge/chunk-reader";
import { guardOriginBody } from "../../edge/origin-body-guard";
import { DecodeLimitError, decodeStream } from "../../edge/compress/decode";
import { MemoryTier } from "../../edge/cache/memory-tier";
import { buildEntryMeta } from "../../edge/cache/record";
import { keyPrefixOf, normalizePath, primaryKey } from "../../common/cache-key";

const CHUNK = 64 * 1024;

/** A source of `chunks` chunks that counts how many were pulled from it. */
function countingSource(chunks: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled === chunks) return controller.close();
        pulled++;
        controller.enqueue(new Uint8Array(CHUNK));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("teeInStep", () => {
  it("reads the source no faster than its slower branch: the fast one waits instead of the slow one buffering", async () => {
    const source = countingSource(1000);
    const [slow, fast] = teeInStep(source.stream);
    const slowReader = slow.getReader();
    const fastReader = fast.getReader();
    // The fast branch reads on its own for a while; the slow one reads nothing.
    let fastRead = 0;
    const reading = (async () => {
      for (;;) {
        const { done } = await fastReader.read();
        if (done) return;
        fastRead++;
      }
    })();
    for (let i = 0; i < 20; i++) await tick();
    expect(source.pulled()).toBeLessThanOrEqual(2);
    // The slow branch takes ten chunks: the source moves ten chunks on, no more.
    for (let i = 0; i < 10; i++) await slowReader.read();
    for (let i = 0; i < 5; i++) await tick();
    expect(source.pulled()).toBeLessThanOrEqual(12);
    expect(fastRead).toBeGreaterThanOrEqual(9);
    // A branch cancelled (its client gone) no longer paces: the other reads to the end.
    await slowReader.cancel();
    await reading;
    expect(source.pulled()).toBe(1000);
  });

  it("gives both branches every byte, in order", async () => {
    const bytes = Array.from({ length: 50 }, (_, i) => new Uint8Array([i, i, i]));
    let n = 0;
    const source = new ReadableStream<Uint8Array>({ pull: (c) => (n < bytes.length ? c.enqueue(bytes[n++]) : c.close()) });
    const [a, b] = teeInStep(source);
    const [left, right] = await Promise.all([new Response(a).arrayBuffer(), new Response(b).arrayBuffer()]);
    expect(new Uint8Array(left)).toEqual(new Uint8Array(right));
    expect(left.byteLength).toBe(150);
  });

  it("gives up a store branch that leaves the client waiting past storeIdleMs; the client reads on alone", async () => {
    const source = countingSource(40);
    const [client, store] = teeInStep(source.stream, 50);
    const storeReader = store.getReader();
    const storeFirst = storeReader.read(); // the store takes one chunk, then stops reading
    const received = await new Response(client).arrayBuffer();
    expect(received.byteLength).toBe(40 * CHUNK);
    expect((await storeFirst).value?.byteLength).toBe(CHUNK);
    await expect(storeReader.read()).rejects.toThrow(/store took no chunk for 50 ms/);
  });

  it("never gives up the store because its client is the slow one", async () => {
    const source = countingSource(5);
    const [client, store] = teeInStep(source.stream, 20);
    const storeBytes = new Response(store).arrayBuffer();
    for (let i = 0; i < 20; i++) await tick(); // the store waits on a client that reads nothing
    const clientBytes = await new Response(client).arrayBuffer();
    expect((await storeBytes).byteLength).toBe(5 * CHUNK);
    expect(clientBytes.byteLength).toBe(5 * CHUNK);
  });
});

/** A byte stream (as a fetched body is) whose source has `count` chunks of `size` bytes ready at once, as a socket's buffer does. */
function socketLike(count: number, size: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    start(controller) {
      for (let i = 0; i < count; i++) controller.enqueue(new Uint8Array(size).fill(i % 251));
      controller.close();
    },
  });
}

async function chunksOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) out.push(chunk);
  return out;
}

describe("the body guards' reads", () => {
  it("takes what has arrived in chunks of up to READ_CHUNK_BYTES, not the socket's 4 KiB, in order", async () => {
    // Every layer a chunk passes costs about the same per chunk: 30 MB in 4 KiB chunks cost 300-400 ms a layer.
    const chunks = await chunksOf(guardOriginBody(socketLike(200, 4096), 10_000));
    // 16, 32, 64, 128, then 256 KiB a read while each read fills its buffer: 7 chunks for 800 KiB, not 200.
    expect(chunks.map((c) => c.byteLength).slice(0, 6)).toEqual([1, 2, 4, 8, 16, 16].map((n) => n * FIRST_READ_BYTES));
    expect(Math.max(...chunks.map((c) => c.byteLength))).toBe(READ_CHUNK_BYTES);
    expect(chunks.length).toBe(7);
    const whole = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of chunks) {
      whole.set(c, at);
      at += c.byteLength;
    }
    expect(whole.byteLength).toBe(200 * 4096);
    for (let i = 0; i < 200; i++) expect(whole[i * 4096]).toBe(i % 251);
  });

  it("reads a small answer into a small buffer: its first read takes at most FIRST_READ_BYTES", async () => {
    const chunks = await chunksOf(guardOriginBody(socketLike(5, 4096), 10_000));
    expect(chunks.map((c) => c.byteLength)).toEqual([FIRST_READ_BYTES, 4096]);
    expect(chunks.every((c) => c.buffer.byteLength <= FIRST_READ_BYTES)).toBe(true);
  });

  it("passes a trickle as it comes, each small chunk in a buffer of its own size", async () => {
    const chunks = await chunksOf(guardOriginBody(socketLike(1, 100), 10_000));
    expect(chunks.map((c) => c.byteLength)).toEqual([100]);
    expect(chunks[0].buffer.byteLength).toBe(100);
  });

  it("reads a body of known length into one buffer of that length, whose chunks join without a copy", async () => {
    const length = 200 * 4096;
    const chunks = await chunksOf(guardOriginBody(socketLike(200, 4096), 10_000, undefined, length));
    // Read sizes grow as the plain reader's do (a large first read would hold the first bytes back).
    expect(chunks.map((c) => c.byteLength)).toEqual([...[1, 2, 4, 8, 16, 16].map((n) => n * FIRST_READ_BYTES), 48 * 1024]);
    // The chunks of its first 64 KiB are copies (its first answer goes out before the buffer is made); the rest are views of it.
    const [first, second, ...rest] = chunks;
    expect([first.buffer.byteLength, second.buffer.byteLength]).toEqual([FIRST_READ_BYTES, 2 * FIRST_READ_BYTES]);
    expect(rest.every((c) => c.buffer === rest[0].buffer && c.buffer.byteLength === length)).toBe(true);
    const whole = concat(chunks, length);
    expect(whole.buffer).toBe(rest[0].buffer);
    expect(whole.byteLength).toBe(length);
    for (let i = 0; i < 200; i++) expect(whole[i * 4096]).toBe(i % 251);
  });

  it("gives bytes past a known length a buffer of their own, and loses none", async () => {
    const chunks = await chunksOf(guardOriginBody(socketLike(5, 4096), 10_000, undefined, 3 * 4096));
    const whole = concat(chunks, 5 * 4096);
    expect(whole.byteLength).toBe(5 * 4096);
    for (let i = 0; i < 5; i++) expect(whole[i * 4096]).toBe(i);
  });

  it("reads a client's upload the same way", async () => {
    const chunks = await chunksOf(guardClientBody(socketLike(200, 4096), 10_000));
    expect(Math.max(...chunks.map((c) => c.byteLength))).toBe(READ_CHUNK_BYTES);
    expect(chunks.reduce((n, c) => n + c.byteLength, 0)).toBe(200 * 4096);
  });

  it("reads a stream that is not a byte stream as it chunks itself", async () => {
    const chunks = await chunksOf(guardOriginBody(countingSource(3).stream, 10_000));
    expect(chunks.map((c) => c.byteLength)).toEqual([CHUNK, CHUNK, CHUNK]);
  });
});

describe("decodeStream", () => {
  const limits = { maxBytes: 512 * 1024 * 1024, maxRatio: 200 };

  it("errors with DecodeLimitError once a bomb expands past the ratio, long before it is whole", async () => {
    const bomb = new Uint8Array(deflateSync(Buffer.alloc(64 * 1024 * 1024)));
    const decoded = decodeStream("deflate", new Response(bomb).body!, limits);
    let total = 0;
    const reader = decoded.getReader();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          total += value.byteLength;
        }
      })(),
    ).rejects.toBeInstanceOf(DecodeLimitError);
    expect(total).toBeLessThan(32 * 1024 * 1024);
  });

  it("decodes only as fast as it is read: an unread stream holds a few chunks, not the body", async () => {
    // Incompressible, so that the encoded input is as long as the body.
    const plain = new Uint8Array(randomBytes(16 * 1024 * 1024));
    const encoded = new Uint8Array(deflateSync(plain));
    let fed = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (fed >= encoded.byteLength) return controller.close();
        controller.enqueue(encoded.subarray(fed, fed + CHUNK));
        fed += CHUNK;
      },
    });
    const reader = decodeStream("deflate", source, limits).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    for (let i = 0; i < 20; i++) await tick();
    // Read one chunk, then nothing: the decoder must not have run through the input.
    expect(fed).toBeLessThan(encoded.byteLength / 4);
    let total = first.value!.byteLength;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
    }
    expect(total).toBe(plain.byteLength);
  });
});

describe("readBounded at the request's deadline", () => {
  it("fails as stalled when the body has gone quiet, before its idle timeout", async () => {
    const quiet = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(new Uint8Array(10)),
      pull: () => new Promise(() => undefined),
    });
    // The deadline comes after more than the progress window without bytes, well before any idle timeout.
    await expect(readBounded(quiet, 1024, Date.now() + 1200)).rejects.toThrow(/stalled/);
  });

  it("goes on as a stream when bytes are still arriving, and loses none", async () => {
    let n = 0;
    const trickle = new ReadableStream<Uint8Array>({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 20));
        if (n === 100) return c.close();
        c.enqueue(new Uint8Array([n++]));
      },
    });
    // Bytes for more than the progress window, and still coming when the deadline falls.
    const result = await readBounded(trickle, 1024, Date.now() + 1300);
    expect(result.kind).toBe("stream");
    const all = new Uint8Array(await new Response(result.kind === "stream" ? result.stream : null).arrayBuffer());
    expect([...all]).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe("readBounded before a streamed answer starts", () => {
  /** 2 KiB, a pause of `pauseMs`, then 2 KiB more and the end: a page's head flushed before its body. */
  const flushedHead = (pauseMs: number) => {
    let step = 0;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (step === 1) await new Promise((r) => setTimeout(r, pauseMs));
        if (step === 2) return c.close();
        c.enqueue(new Uint8Array(2048).fill(step + 1));
        step++;
      },
    });
  };

  it("starts once the first bytes have waited streamAfter.ms, though fewer than streamAfter.bytes came, and loses none", async () => {
    const started = Date.now();
    const result = await readBounded(flushedHead(1500), 1024 * 1024, Infinity, { bytes: 16 * 1024, ms: 20 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result).toMatchObject({ kind: "stream", read: 2048 });
    const all = new Uint8Array(await new Response(result.kind === "stream" ? result.stream : null).arrayBuffer());
    expect(all.byteLength).toBe(4096);
    expect(all[0]).toBe(1);
    expect(all[4095]).toBe(2);
  });

  it("reads a body that comes whole within the wait as a whole", async () => {
    const result = await readBounded(flushedHead(0), 1024 * 1024, Infinity, { bytes: 16 * 1024, ms: 200 });
    expect(result.kind).toBe("complete");
  });
});

describe("the memory tier's bound", () => {
  it("counts keys and fields, so a flood of long distinct URLs stays within it", () => {
    const bound = 16 * 1024 * 1024;
    const tier = new MemoryTier(bound);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const longPath = `/${"a".repeat(12 * 1024)}`;
    for (let i = 0; i < 5000; i++) {
      const key = `https://cdn.test${longPath}?n=${i}`;
      const meta = buildEntryMeta({
        key,
        status: 200,
        headers: new Headers({ "cache-control": "max-age=60", "content-type": "text/plain", etag: `"${i}"` }),
        requestTime: 0,
        responseTime: 0,
        size: 1,
        originId: "o",
      });
      tier.set(key, { record: { kind: "entry", meta }, body: new Uint8Array(1), storedAt: 0 }, 60);
    }
    // Before, 5,000 such entries "used" 2.5 MiB of the bound (512 + 1 byte each) and held 60 MiB.
    expect(tier.bytes).toBeLessThanOrEqual(bound);
    expect(tier.size).toBeLessThan(1000);
    gc?.();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(bound + 16 * 1024 * 1024);
  });
});

describe("one resource, one key (RFC 3986 §6.2.2)", () => {
  it("decodes percent-encoded unreserved characters in keys and purge prefixes alike, and no others", () => {
    expect(normalizePath("/%69ndex.html")).toBe("/index.html");
    expect(normalizePath("/a%2fb%7e%2D")).toBe("/a%2Fb~-");
    const config = { sortQuery: false, ignoreQueryParams: [] };
    expect(primaryKey(new URL("https://cdn.test/%69ndex.html?x=1"), config)).toBe(primaryKey(new URL("https://cdn.test/index.html?x=1"), config));
    expect(keyPrefixOf("cdn.test/%69mages/")).toBe("https://cdn.test/images/");
  });
});
