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
import { handBack, takeReadBuffer } from "./chunk-reader";
import { type InStepOptions, offerToRuntime, type SentAndStored } from "./framed-body";
import { brokenOff, type GuardHooks, guardedRead, pump, pumpReaderOf, type ReadAlready } from "./guarded-pump";
import { waitAtMost } from "./wait";

/** Both streams, once the first bytes have come; undefined off workerd or for a body without byte reads. */
export function sendAndStoreInStep(body: ReadableStream<Uint8Array>, idleMs: number, hooks: GuardHooks, options: InStepOptions): Promise<SentAndStored> | undefined {
  const reader = pumpReaderOf(body);
  if (!reader) return undefined;
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
 * Reads until `firstBytes.bytes` have come, or `firstBytes.ms` after the first did (the body's first read
 * in one buffer, each later one in a second, copied after it, so that the streams can start with a
 * read still in flight), within the idle timeout and the request's deadline. A failure before
 * then throws, for the caller to retry.
 */
async function readFirstBytes(reader: ReadableStreamBYOBReader, idleMs: number, hooks: GuardHooks, options: InStepOptions): Promise<ReadAlready> {
  let buffer = takeReadBuffer();
  /** The second buffer, while no read holds it. */
  let spare: ArrayBuffer | undefined;
  let filled = 0;
  let startBy = options.deadline;
  const wanted = Math.min(options.firstBytes.bytes, options.length, buffer.byteLength);
  const fail = (error: OriginBodyError) => {
    hooks.settle(error);
    return Promise.reject(error);
  };
  while (filled < wanted) {
    const into = filled === 0 ? new Uint8Array(buffer) : new Uint8Array(spare ?? takeReadBuffer(), 0, buffer.byteLength - filled);
    spare = undefined;
    const read = guardedRead(reader.read(into), reader, Math.min(idleMs, Math.max(0, options.deadline - Date.now())), "origin body");
    const next = filled === 0 ? await read : await waitAtMost(read, startBy - Date.now(), "answer" as const);
    // The first bytes have waited long enough: the streams start, the read in flight goes on in the pump.
    if (next === "answer") return { chunk: new Uint8Array(buffer, 0, filled), ended: false, pending: read };
    if (next instanceof OriginBodyError) return fail(next);
    if (next.done) {
      if (filled !== options.length) return fail(brokenOff(new Error(`the body ended after ${filled} of its ${options.length} bytes`), "origin body"));
      const last = (next as { value?: Uint8Array }).value;
      if (last) handBack(last.buffer);
      return { chunk: new Uint8Array(buffer, 0, filled), ended: true };
    }
    if (filled === 0) {
      // A read hands its bytes back in a buffer of its own (the one it was given, moved).
      buffer = next.value.buffer as ArrayBuffer;
      startBy = Math.min(options.deadline, Date.now() + options.firstBytes.ms);
    } else {
      spare = next.value.buffer as ArrayBuffer;
      new Uint8Array(buffer).set(next.value, filled);
    }
    filled += next.value.byteLength;
    hooks.onBytes?.(next.value.byteLength);
  }
  if (spare) handBack(spare);
  if (filled > options.length) {
    void reader.cancel().catch(() => undefined);
    return fail(brokenOff(new Error(`the body went past its ${options.length} bytes`), "origin body"));
  }
  return { chunk: new Uint8Array(buffer, 0, filled), ended: false };
}
