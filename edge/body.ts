/**
 * Reading a response body up to a bound: small bodies are buffered (so the
 * in-isolate tier and collapsed requests can share them), large ones keep
 * streaming without being held in memory.
 */
export type BoundedBody =
  | { kind: "complete"; bytes: Uint8Array }
  | { kind: "stream"; stream: ReadableStream<Uint8Array> };

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** Reads at most `limit` bytes; past it, returns a stream that replays what was read and goes on. */
export async function readBounded(body: ReadableStream<Uint8Array> | null, limit: number): Promise<BoundedBody> {
  if (body === null) return { kind: "complete", bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { kind: "complete", bytes: concat(chunks, total) };
    chunks.push(value);
    total += value.byteLength;
    if (total > limit) break;
  }
  const replay = chunks;
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const next = replay.shift();
      if (next) return controller.enqueue(next);
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { kind: "stream", stream };
}
