import { describe, expect, it } from "vitest";
import { offerRanges, rangeOf, SLICE_WITHIN_BYTES } from "./ranged-body";

const SIZE = SLICE_WITHIN_BYTES * 4;
const whole = Uint8Array.from({ length: SIZE }, (_, i) => i % 251);

/** A stored body that fails the test if it is read at all, and tells whether it was cancelled. */
function unreadBody() {
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull() {
        throw new Error("the body was read from its start");
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

function streamOf(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

/** The bytes start..end of a stream, read from its start (deliver's own slicing, in short). */
function sliceFromStart(stream: ReadableStream<Uint8Array>, start: number, end: number): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const all = new Uint8Array(await new Response(stream).arrayBuffer());
      controller.enqueue(all.slice(start, end + 1));
      controller.close();
    },
  });
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe("rangeOf", () => {
  it("asks the store for a range past the body's first read, and never reads the body", async () => {
    const { stream, state } = unreadBody();
    const asked: [number, number][] = [];
    offerRanges(stream, async (start, end) => {
      asked.push([start, end]);
      return streamOf(whole.slice(start, end + 1));
    });
    const start = SIZE - 1000;
    const got = await bytesOf(rangeOf(stream, start, SIZE - 1, sliceFromStart));
    expect(got).toEqual(whole.slice(start));
    expect(asked).toEqual([[start, SIZE - 1]]);
    expect(state.cancelled).toBe(true);
  });

  it("reads the body itself when the store cannot answer the range", async () => {
    const body = streamOf(whole);
    offerRanges(body, async () => undefined);
    const start = SLICE_WITHIN_BYTES + 5;
    expect(await bytesOf(rangeOf(body, start, start + 99, sliceFromStart))).toEqual(whole.slice(start, start + 100));
  });

  it("reads the body itself when the store's read fails", async () => {
    const body = streamOf(whole);
    offerRanges(body, () => Promise.reject(new Error("the store is down")));
    const start = SLICE_WITHIN_BYTES + 5;
    expect(await bytesOf(rangeOf(body, start, start + 9, sliceFromStart))).toEqual(whole.slice(start, start + 10));
  });

  it("slices a range within the first read from the body, without asking the store", async () => {
    const body = streamOf(whole);
    let asked = 0;
    offerRanges(body, async () => {
      asked++;
      return undefined;
    });
    expect(await bytesOf(rangeOf(body, 10, 19, sliceFromStart))).toEqual(whole.slice(10, 20));
    expect(asked).toBe(0);
  });

  it("slices a body with no range reads from its start", async () => {
    expect(await bytesOf(rangeOf(streamOf(whole), SIZE - 10, SIZE - 1, sliceFromStart))).toEqual(whole.slice(SIZE - 10));
  });

  it("asks nothing of the store for a client gone before its first read, and releases the body", async () => {
    const { stream, state } = unreadBody();
    let asked = 0;
    offerRanges(stream, async () => {
      asked++;
      return streamOf(whole);
    });
    await rangeOf(stream, SIZE - 10, SIZE - 1, sliceFromStart).cancel();
    expect(asked).toBe(0);
    expect(state.cancelled).toBe(true);
  });
});
