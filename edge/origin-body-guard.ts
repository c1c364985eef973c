/**
 * The origin's body, guarded: no chunk for `idleMs` errors it as stalled, a
 * read that fails (a reset connection) errors it as broken. Without this a
 * body that stops half-way holds the fill, and every request collapsed onto
 * it, for as long as the connection stays open.
 *
 * Read in JavaScript, the guard costs what every chunk's fresh buffer costs
 * (its zeroing and page faults were a fifth of a POP's CPU on a 1 MiB
 * pass-through). So a body that goes to its client whole (one not stored, or
 * a pass) is sent by a stream of the runtime's instead, a FixedLengthStream
 * when its length is known and chunked when not, the guard pumping it through
 * one buffer used again and again (guarded-pump.ts). A miss too large to keep
 * in memory goes to its client and its store the same way, in step
 * (in-step-pump.ts). A body kept whole, a range or a decode reads the stream.
 *
 * A hit too large for memory, streamed from the colo's cache, gets the same
 * guard (guardStoredBody): a cache that stalls mid-body is no different.
 */
import { OriginBodyError } from "./body";
import { largeChunkReader } from "./chunk-reader";
import { offerToRuntime } from "./framed-body";
import { type BodySource, type GuardHooks, guardedRead, type PumpRules, pump, pumpReaderOf } from "./guarded-pump";
import { sendAndStoreInStep } from "./in-step-pump";

export interface BodyOutcome {
  /** The body ended whole, or its reader stopped reading: the origin did its part. */
  onComplete(): void;
  onFailure(error: OriginBodyError): void;
  /** Each chunk's size, as it passes. */
  onBytes?(bytes: number): void;
}

/** `wholeLength`: the body's length, when it is to be read into one buffer (largeChunkReader). */
export function guardOriginBody(body: ReadableStream<Uint8Array>, idleMs: number, outcome?: BodyOutcome, wholeLength?: number): ReadableStream<Uint8Array> {
  return guardBody(body, idleMs, { source: "origin body", outcome, wholeLength, storedInStep: true });
}

/**
 * A stored body streamed to its client (a hit too large for memory, from the colo's cache) under
 * the same bound on each chunk: a cache that stalls mid-body must not hold the client's
 * connection for as long as it stays open. Sent by the runtime's stream as an origin's is; never
 * stored again from here.
 */
export function guardStoredBody(body: ReadableStream<Uint8Array>, idleMs: number): ReadableStream<Uint8Array> {
  return guardBody(body, idleMs, { source: "stored body", storedInStep: false });
}

interface GuardOptions {
  source: BodySource;
  outcome?: BodyOutcome;
  wholeLength?: number;
  /** Whether the body may go to its client and a store at once (in-step-pump.ts): a miss's may. */
  storedInStep: boolean;
}

function guardBody(body: ReadableStream<Uint8Array>, idleMs: number, how: GuardOptions): ReadableStream<Uint8Array> {
  const { source, outcome } = how;
  let settled = false;
  const settle = (error?: OriginBodyError) => {
    if (settled) return;
    settled = true;
    if (error) outcome?.onFailure(error);
    else outcome?.onComplete();
  };
  // Nothing is read before a reader asks (no queue), so that the framed path can still take the body.
  let reader: ReturnType<typeof largeChunkReader> | undefined;
  const guarded = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const chunks = (reader ??= largeChunkReader(body, how.wholeLength));
        const next = await guardedRead(chunks.read(), chunks, idleMs, source);
        if (next instanceof OriginBodyError) {
          settle(next);
          controller.error(next);
        } else if (next.done) {
          settle();
          controller.close();
        } else {
          outcome?.onBytes?.(next.value.byteLength);
          controller.enqueue(next.value);
        }
      },
      cancel: (reason) => {
        settle();
        return (reader ?? body).cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const hooks = { settle, onBytes: outcome?.onBytes };
  offerToRuntime(
    guarded,
    (length, onEnd) => runtimeGuarded(body, { idleMs, source, length }, { ...hooks, onEnd }),
    how.storedInStep ? (options) => sendAndStoreInStep(body, idleMs, hooks, options) : undefined,
  );
  return guarded;
}

/**
 * The body as a stream of the runtime's, fed by the guard: a FixedLengthStream of its length, or an
 * IdentityTransformStream (sent chunked) when the length is not known; undefined off workerd or
 * for a body without byte reads.
 */
function runtimeGuarded(body: ReadableStream<Uint8Array>, rules: PumpRules, hooks: GuardHooks): ReadableStream<Uint8Array> | undefined {
  const reader = pumpReaderOf(body);
  if (!reader) return undefined;
  const carrier = rules.length === undefined ? new IdentityTransformStream() : new FixedLengthStream(rules.length);
  void pump(reader, { client: carrier.writable.getWriter() }, hooks, rules);
  return carrier.readable;
}
