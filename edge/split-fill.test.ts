/** splitFill: the client streams, the store and followers get the whole body at the origin's pace. */
import { describe, expect, it } from "vitest";
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
});
