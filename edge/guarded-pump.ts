/**
 * The guard's pump: it reads a body (an origin's, or a stored one on its way
 * to a client) through one buffer, used again
 * and again, and writes each chunk to the runtime's own streams: the client's
 * body, and, for a miss stored as it streams, the store's (in-step-pump.ts).
 * Each read is under the guard's idle timeout, so a body that stops half-way
 * errors its streams rather than holding them open. One pump serves both
 * uses, so a body passed on and a body stored as it passes follow one set of
 * rules.
 */
import { OriginBodyError } from "./body";
import { handBack, takeReadBuffer } from "./chunk-reader";
import { waitAtMost } from "./wait";

/** Whose body is read, for what its errors say: an origin's, or a stored one streamed to a client. */
export type BodySource = "origin body" | "stored body";

/** What a pump tells the guard. */
export interface GuardHooks {
  settle(error?: OriginBodyError): void;
  onBytes?(bytes: number): void;
  /** The body passed whole: its bytes. */
  onEnd?(bytes: number): void;
}

/** Where the pump writes: the client's stream, and the store's when the body is stored as it passes. */
export interface PumpSinks {
  client: WritableStreamDefaultWriter<Uint8Array>;
  store?: WritableStreamDefaultWriter<Uint8Array>;
}

export interface PumpRules {
  /** How long one read of the body may wait. */
  idleMs: number;
  source: BodySource;
  /** The body's length, when known: one that ends short of it, or runs past it, is broken. */
  length?: number;
  /** How long the store may leave the client waiting for a chunk before its copy is given up (teeInStep's rule). */
  storeIdleMs?: number;
}

/** Bytes read before the pump started (the first bytes a stored miss waits for), in a read buffer of their own. */
export interface ReadAlready {
  chunk: Uint8Array;
  /** Whether the body ended with them. */
  ended: boolean;
  /** A read already in flight (not into the chunk's buffer), under the guard's timeout: the pump's next. */
  pending?: Promise<ReadableStreamReadResult<Uint8Array> | OriginBodyError>;
}

/**
 * The pump's reader of `body`: a BYOB one, when the runtime has streams of its own to pump into
 * (workerd) and the body has byte reads; undefined when not (then the body is read as a stream).
 */
export function pumpReaderOf(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  if (typeof FixedLengthStream === "undefined" || typeof IdentityTransformStream === "undefined") return undefined;
  try {
    return body.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
}

/** Which sinks still take chunks. */
interface Open {
  client: boolean;
  store: boolean;
}

/**
 * Writes each chunk to every open sink and reads the next into the same buffer once all of them
 * have taken it: workerd resolves a write to its own streams once their reading side has the
 * bytes (test/worker/framed-guard.test.ts checks it byte for byte). A buffer a sink may still hold
 * (its write never came back) is left to it, and the next read takes another. The idle timer runs
 * only while the origin is awaited, never while a slow client is. The slower sink paces both; a
 * client gone leaves the store reading on; when none is left the origin did its part.
 */
export async function pump(reader: ReadableStreamBYOBReader, sinks: PumpSinks, hooks: GuardHooks, rules: PumpRules, already?: ReadAlready): Promise<void> {
  const open: Open = { client: true, store: sinks.store !== undefined };
  const fail = async (error: OriginBodyError) => {
    hooks.settle(error);
    await Promise.all([open.client && sinks.client.abort(error), open.store && sinks.store?.abort(error)]).catch(() => undefined);
  };
  let chunk = already?.chunk ?? new Uint8Array(takeReadBuffer(), 0, 0);
  let ended = already?.ended ?? false;
  let pending = already?.pending;
  let sent = chunk.byteLength;
  for (;;) {
    const reusable = chunk.byteLength === 0 || (await writeToOpenSinks(chunk, sinks, open, rules.storeIdleMs ?? Infinity));
    if (!open.client && !open.store) {
      hooks.settle();
      await reader.cancel().catch(() => undefined);
      return;
    }
    if (ended) break;
    const next = await (pending ?? guardedRead(reader.read(new Uint8Array(reusable ? (chunk.buffer as ArrayBuffer) : takeReadBuffer())), reader, rules.idleMs, rules.source));
    // The read already in flight had a buffer of its own: the chunk's, once taken, is free.
    if (pending && reusable) handBack(chunk.buffer);
    pending = undefined;
    if (next instanceof OriginBodyError) return fail(next);
    if (next.done) {
      // Every write before this read had been taken: the buffer (a BYOB read's last, empty view is on it) is free for the next reader.
      const last = (next as { value?: Uint8Array }).value;
      if (last) handBack(last.buffer);
      chunk = new Uint8Array(0);
      ended = true;
      continue;
    }
    sent += next.value.byteLength;
    if (rules.length !== undefined && sent > rules.length) {
      void reader.cancel().catch(() => undefined);
      return fail(brokenOff(new Error(`the body went past its ${rules.length} bytes`), rules.source));
    }
    hooks.onBytes?.(next.value.byteLength);
    chunk = next.value;
  }
  if (rules.length !== undefined && sent !== rules.length) return fail(brokenOff(new Error(`the body ended after ${sent} of its ${rules.length} bytes`), rules.source));
  hooks.settle();
  hooks.onEnd?.(sent);
  await Promise.all([open.client && sinks.client.close(), open.store && sinks.store?.close()]).catch(() => undefined);
}

/**
 * One chunk to every open sink; whether its buffer is free again (every write came back taken).
 * The store is given up when the client has taken the chunk and the store has not within
 * `storeIdleMs`; a sink whose write fails (its reader went) is closed to further chunks.
 */
async function writeToOpenSinks(chunk: Uint8Array, sinks: PumpSinks, open: Open, storeIdleMs: number): Promise<boolean> {
  const toClient = open.client ? sinks.client.write(chunk).then(taken, notTaken) : undefined;
  const toStore = open.store ? sinks.store?.write(chunk).then(taken, notTaken) : undefined;
  let free = true;
  if (toClient) {
    open.client = await toClient;
    free &&= open.client;
  }
  if (toStore) {
    const stored = await waitAtMost(toStore, open.client ? storeIdleMs : Infinity, "idle" as const);
    if (stored === "idle") {
      void sinks.store?.abort(new Error(`the store took no chunk for ${storeIdleMs} ms: its copy is given up`)).catch(() => undefined);
    }
    open.store = stored === true;
    free &&= open.store;
  }
  return free;
}

const taken = () => true;
const notTaken = () => false;

/**
 * One read of a body within `idleMs`: what it read, or what it came to. A read that waits longer
 * has stalled (the reader is cancelled), one that fails has broken off.
 */
export async function guardedRead(
  read: Promise<ReadableStreamReadResult<Uint8Array>>,
  reader: { cancel(): Promise<void> },
  idleMs: number,
  source: BodySource,
): Promise<ReadableStreamReadResult<Uint8Array> | OriginBodyError> {
  try {
    const next = await waitAtMost(read, idleMs, "stalled" as const);
    if (next !== "stalled") return next;
    void reader.cancel().catch(() => undefined);
    return new OriginBodyError("stalled", `${source} stalled: no bytes for ${idleMs} ms`);
  } catch (err) {
    return brokenOff(err, source);
  }
}

export function brokenOff(err: unknown, source: BodySource): OriginBodyError {
  return new OriginBodyError("broken", `${source} broke off: ${(err as Error).message}`);
}
