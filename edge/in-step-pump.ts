/**
 * A miss's body for its client and its store at once, in the runtime's own
 * streams: once its first bytes have come, the guard's pump (guarded-pump.ts)
 * reads the origin's body through one buffer, used again and again, and
 * writes each chunk to two FixedLengthStreams, the client's body and the
 * store's. Read into a fresh buffer a chunk in JavaScript
 * (teeInStep), a stored 30 MB miss faulted in a new page for every 4 KiB it
 * passed at each tier (npm run bench; most of its Workers' CPU).
 *
 * The rules are teeInStep's: in step, so the slower side paces both and
 * nothing more is held; a store that leaves the client waiting storeIdleMs
 * for a chunk is given up, its copy errored (nothing partial is kept); a
 * client gone leaves the store reading on. A body that ends short of its
 * length, or runs past it, is broken: both streams error.
 */
import { OriginBodyError } from "./body";
import { takeReadBuffer } from "./chunk-reader";
import { type InStepOptions, offerToRuntime, type SentAndStored } from "./framed-body";
import { brokenOff, type GuardHooks, guardedRead, pump, type ReadAlready } from "./guarded-pump";

/** Both streams, once the first bytes have come; undefined off workerd or for a body without byte reads. */
export function sendAndStoreInStep(body: ReadableStream<Uint8Array>, idleMs: number, hooks: GuardHooks, options: InStepOptions): Promise<SentAndStored> | undefined {
  if (typeof FixedLengthStream === "undefined") return undefined;
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
  return readFirstBytes(reader, idleMs, hooks, options).then((first) => {
    const client = new FixedLengthStream(options.length);
    const store = new FixedLengthStream(options.length);
    const sinks = { client: client.writable.getWriter(), store: store.writable.getWriter() };
    void pump(reader, sinks, hooks, { idleMs, source: "origin body", length: options.length, storeIdleMs: options.storeIdleMs }, first);
    // Each is already the runtime's stream of the body's length: deliver and the Cache API's put take
    // it as it is. Piped through another FixedLengthStream, the put took no chunk until its store
    // was given up (storeIdleMs later) under workerd.
    for (const made of [client.readable, store.readable]) offerToRuntime(made, (length) => (length === options.length ? made : undefined));
    return { client: client.readable, store: store.readable };
  });
}

/**
 * Reads until `firstBytes` have come (into one buffer, each read after the last), within the
 * idle timeout and the request's deadline. A failure before then throws, for the caller to retry.
 */
async function readFirstBytes(reader: ReadableStreamBYOBReader, idleMs: number, hooks: GuardHooks, options: InStepOptions): Promise<ReadAlready> {
  let buffer = takeReadBuffer();
  let filled = 0;
  const wanted = Math.min(options.firstBytes, options.length, buffer.byteLength);
  const fail = (error: OriginBodyError) => {
    hooks.settle(error);
    return Promise.reject(error);
  };
  while (filled < wanted) {
    const next = await guardedRead(reader.read(new Uint8Array(buffer, filled)), reader, Math.min(idleMs, Math.max(0, options.deadline - Date.now())), "origin body");
    if (next instanceof OriginBodyError) return fail(next);
    if (next.done) {
      if (filled !== options.length) return fail(brokenOff(new Error(`the body ended after ${filled} of its ${options.length} bytes`), "origin body"));
      // The read's last, empty view is on the buffer the earlier reads filled.
      const last = (next as { value?: Uint8Array }).value;
      if (!last) return fail(brokenOff(new Error("the body's last read kept its buffer"), "origin body"));
      return { chunk: new Uint8Array(last.buffer, 0, filled), ended: true };
    }
    buffer = next.value.buffer as ArrayBuffer;
    filled += next.value.byteLength;
    hooks.onBytes?.(next.value.byteLength);
  }
  if (filled > options.length) {
    void reader.cancel().catch(() => undefined);
    return fail(brokenOff(new Error(`the body went past its ${options.length} bytes`), "origin body"));
  }
  return { chunk: new Uint8Array(buffer, 0, filled), ended: false };
}
