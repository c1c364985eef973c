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
 * one buffer used again and again (framed-body.ts). A miss too large to keep
 * in memory goes to its client and its store the same way, in step
 * (in-step-pump.ts). A body kept whole, a range or a decode reads the stream.
 */
import { OriginBodyError } from "./body";
import { handBack, largeChunkReader, takeReadBuffer } from "./chunk-reader";
import { offerToRuntime } from "./framed-body";
import { brokenOff, type GuardHooks, guardedRead } from "./guarded-read";
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
        const chunks = (reader ??= largeChunkReader(body, wholeLength));
        const next = await guardedRead(chunks.read(), chunks, idleMs);
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
  offerToRuntime(
    guarded,
    (length, onEnd) => runtimeGuarded(body, length, idleMs, { settle, onBytes: outcome?.onBytes, onEnd }),
    (options) => sendAndStoreInStep(body, idleMs, { settle, onBytes: outcome?.onBytes }, options),
  );
  return guarded;
}

/**
 * The body as a stream of the runtime's, fed by the guard: a FixedLengthStream of `length`, or an
 * IdentityTransformStream (sent chunked) when the length is not known; undefined off workerd or
 * for a body without byte reads.
 */
function runtimeGuarded(body: ReadableStream<Uint8Array>, length: number | undefined, idleMs: number, hooks: GuardHooks): ReadableStream<Uint8Array> | undefined {
  if (typeof FixedLengthStream === "undefined" || typeof IdentityTransformStream === "undefined") return undefined;
  let reader: ReadableStreamBYOBReader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return undefined;
  }
  const carrier = length === undefined ? new IdentityTransformStream() : new FixedLengthStream(length);
  void pumpGuarded(reader, carrier.writable.getWriter(), length, idleMs, hooks);
  return carrier.readable;
}

/**
 * Reads into one buffer (a spare one, handed back at the end), and reads into it again once the write has taken its bytes: workerd
 * resolves a write to its own streams once their reading side has the bytes, which
 * test/worker/framed-guard.test.ts checks byte for byte. The idle timer runs only while the origin is awaited, never
 * while a slow client is: as in the stream's pull. A body that ends short of a known `length`, or goes
 * past it, is broken: the client's connection is cut, never a clean short end.
 */
async function pumpGuarded(
  reader: ReadableStreamBYOBReader,
  writer: WritableStreamDefaultWriter<Uint8Array>,
  length: number | undefined,
  idleMs: number,
  hooks: GuardHooks,
): Promise<void> {
  let buffer = takeReadBuffer();
  let sent = 0;
  const fail = async (error: OriginBodyError) => {
    hooks.settle(error);
    await writer.abort(error).catch(() => undefined);
  };
  for (;;) {
    const next = await guardedRead(reader.read(new Uint8Array(buffer)), reader, idleMs);
    if (next instanceof OriginBodyError) return fail(next);
    if (next.done) {
      // Every write before this read had been taken: the buffer (a BYOB read's last, empty view is on it) is free for the next reader.
      const last = (next as { value?: Uint8Array }).value;
      if (last) handBack(last.buffer);
      if (length !== undefined && sent !== length) return fail(brokenOff(new Error(`the body ended after ${sent} of its ${length} bytes`)));
      hooks.settle();
      hooks.onEnd?.(sent);
      return writer.close().catch(() => undefined);
    }
    sent += next.value.byteLength;
    if (length !== undefined && sent > length) {
      void reader.cancel().catch(() => undefined);
      return fail(brokenOff(new Error(`the body went past its ${length} bytes`)));
    }
    buffer = next.value.buffer as ArrayBuffer;
    hooks.onBytes?.(next.value.byteLength);
    const taken = await writer.write(next.value).then(
      () => true,
      () => false,
    );
    if (!taken) {
      // The client went: the origin did its part.
      hooks.settle();
      await reader.cancel().catch(() => undefined);
      return;
    }
  }
}
