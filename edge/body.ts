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

/** An origin body that stalled or broke off: the fill failed, whatever the status line said. */
export class OriginBodyError extends Error {
  constructor(
    readonly kind: "stalled" | "broken",
    message: string,
  ) {
    super(message);
    this.name = "OriginBodyError";
  }
}

/**
 * The origin's body, guarded: no chunk for `idleMs` errors it as stalled, a
 * read that fails (a reset connection) errors it as broken. Without this a
 * body that stops half-way holds the fill, and every request collapsed onto
 * it, for as long as the connection stays open.
 */
export interface BodyOutcome {
  /** The body ended whole, or its reader stopped reading: the origin did its part. */
  onComplete(): void;
  onFailure(error: OriginBodyError): void;
  /** Each chunk's size, as it passes. */
  onBytes?(bytes: number): void;
}

export function guardOriginBody(body: ReadableStream<Uint8Array>, idleMs: number, outcome?: BodyOutcome): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let settled = false;
  const settle = (error?: OriginBodyError) => {
    if (settled) return;
    settled = true;
    if (error) outcome?.onFailure(error);
    else outcome?.onComplete();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<"stalled">((resolve) => (timer = setTimeout(() => resolve("stalled"), idleMs)));
      try {
        const next = await Promise.race([reader.read(), stalled]);
        if (next === "stalled") {
          void reader.cancel().catch(() => undefined);
          const error = new OriginBodyError("stalled", `origin body stalled: no bytes for ${idleMs} ms`);
          settle(error);
          controller.error(error);
        } else if (next.done) {
          settle();
          controller.close();
        } else {
          outcome?.onBytes?.(next.value.byteLength);
          controller.enqueue(next.value);
        }
      } catch (err) {
        const error = new OriginBodyError("broken", `origin body broke off: ${(err as Error).message}`);
        settle(error);
        controller.error(error);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel: (reason) => {
      settle();
      return reader.cancel(reason);
    },
  });
}

/**
 * Counts the bytes that pass; past `limit` the stream errors (so a store of
 * it fails and nothing partial is kept). `onEnd` gets the total of a body that ended whole.
 */
export function countBytes(body: ReadableStream<Uint8Array>, limit: number, onEnd: (total: number) => void): ReadableStream<Uint8Array> {
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > limit) throw new Error(`body larger than ${limit} bytes`);
        controller.enqueue(chunk);
      },
      flush: () => onEnd(total),
    }),
  );
}
