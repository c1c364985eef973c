/**
 * A miss's body for its client and its store at once, in the runtime's own
 * streams: the guard reads the origin's body through one buffer, used again
 * and again, and writes each chunk to two FixedLengthStreams, the client's
 * body and the store's. Read into a fresh buffer a chunk in JavaScript
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
import { brokenOff, type GuardHooks, guardedRead } from "./guarded-read";
import { waitAtMost } from "./wait";

/** The first bytes, read before the streams are made: where they lie, and whether the body ended with them. */
interface FirstBytes {
  buffer: ArrayBuffer;
  filled: number;
  ended: boolean;
}

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
    void pumpInStep(reader, { client: client.writable.getWriter(), store: store.writable.getWriter() }, first, { idleMs, hooks, options });
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
async function readFirstBytes(reader: ReadableStreamBYOBReader, idleMs: number, hooks: GuardHooks, options: InStepOptions): Promise<FirstBytes> {
  let buffer = takeReadBuffer();
  let filled = 0;
  const wanted = Math.min(options.firstBytes, options.length, buffer.byteLength);
  const fail = (error: OriginBodyError) => {
    hooks.settle(error);
    return Promise.reject(error);
  };
  while (filled < wanted) {
    const next = await guardedRead(reader.read(new Uint8Array(buffer, filled)), reader, Math.min(idleMs, Math.max(0, options.deadline - Date.now())));
    if (next instanceof OriginBodyError) return fail(next);
    if (next.done) {
      if (filled !== options.length) return fail(brokenOff(new Error(`the body ended after ${filled} of its ${options.length} bytes`)));
      // The read's last, empty view is on the buffer the earlier reads filled.
      const last = (next as { value?: Uint8Array }).value;
      if (!last) return fail(brokenOff(new Error("the body's last read kept its buffer")));
      return { buffer: last.buffer as ArrayBuffer, filled, ended: true };
    }
    buffer = next.value.buffer as ArrayBuffer;
    filled += next.value.byteLength;
    hooks.onBytes?.(next.value.byteLength);
  }
  if (filled > options.length) {
    void reader.cancel().catch(() => undefined);
    return fail(brokenOff(new Error(`the body went past its ${options.length} bytes`)));
  }
  return { buffer, filled, ended: false };
}

interface Sinks {
  client: WritableStreamDefaultWriter<Uint8Array>;
  store: WritableStreamDefaultWriter<Uint8Array>;
}

/** Which sinks still take chunks. */
interface Open {
  client: boolean;
  store: boolean;
}

/**
 * Writes each chunk to both sinks and reads the next into the same buffer once both have taken
 * it: workerd resolves a write to its own streams once their reading side has the bytes
 * (test/worker/framed-guard.test.ts). A buffer a sink may still hold (its write never came back)
 * is left to it, and the next read takes another.
 */
async function pumpInStep(reader: ReadableStreamBYOBReader, sinks: Sinks, first: FirstBytes, how: { idleMs: number; hooks: GuardHooks; options: InStepOptions }): Promise<void> {
  const { idleMs, hooks, options } = how;
  const open: Open = { client: true, store: true };
  const fail = async (error: OriginBodyError) => {
    hooks.settle(error);
    await Promise.all([open.client && sinks.client.abort(error), open.store && sinks.store.abort(error)]).catch(() => undefined);
  };
  let chunk: Uint8Array = new Uint8Array(first.buffer, 0, first.filled);
  let sent = first.filled;
  let ended = first.ended;
  for (;;) {
    const reusable = chunk.byteLength === 0 || (await writeInStep(chunk, sinks, open, options.storeIdleMs));
    if (!open.client && !open.store) {
      // Both went (the client, and the store given up or failing): the origin did its part.
      hooks.settle();
      await reader.cancel().catch(() => undefined);
      return;
    }
    if (ended) break;
    const next = await guardedRead(reader.read(new Uint8Array(reusable ? (chunk.buffer as ArrayBuffer) : takeReadBuffer())), reader, idleMs);
    if (next instanceof OriginBodyError) return fail(next);
    if (next.done) {
      // Every write before this read had been taken: the buffer (the read's last, empty view is on it) is free.
      const last = (next as { value?: Uint8Array }).value;
      if (last) handBack(last.buffer);
      chunk = new Uint8Array(0);
      ended = true;
      continue;
    }
    sent += next.value.byteLength;
    if (sent > options.length) {
      void reader.cancel().catch(() => undefined);
      return fail(brokenOff(new Error(`the body went past its ${options.length} bytes`)));
    }
    hooks.onBytes?.(next.value.byteLength);
    chunk = next.value;
  }
  if (sent !== options.length) return fail(brokenOff(new Error(`the body ended after ${sent} of its ${options.length} bytes`)));
  hooks.settle();
  hooks.onEnd?.(sent);
  await Promise.all([open.client && sinks.client.close(), open.store && sinks.store.close()]).catch(() => undefined);
}

/**
 * One chunk to every open sink; whether its buffer is free again (every write came back taken).
 * The store is given up when the client has taken the chunk and the store has not within
 * `storeIdleMs`; a sink whose write fails (its reader went) is closed to further chunks.
 */
async function writeInStep(chunk: Uint8Array, sinks: Sinks, open: Open, storeIdleMs: number): Promise<boolean> {
  const toClient = open.client ? sinks.client.write(chunk).then(taken, notTaken) : undefined;
  const toStore = open.store ? sinks.store.write(chunk).then(taken, notTaken) : undefined;
  let free = true;
  if (toClient) {
    open.client = await toClient;
    free &&= open.client;
  }
  if (toStore) {
    const stored = await waitAtMost(toStore, open.client ? storeIdleMs : Infinity, "idle" as const);
    if (stored === "idle") {
      void sinks.store.abort(new Error(`the store took no chunk for ${storeIdleMs} ms: its copy is given up`)).catch(() => undefined);
    }
    open.store = stored === true;
    free &&= open.store;
  }
  return free;
}

const taken = () => true;
const notTaken = () => false;
