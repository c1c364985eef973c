/**
 * How a body is read in JavaScript: in large chunks (largeChunkReader), and,
 * when its length is known and it is to be kept whole, into one buffer of
 * that length (wholeBodyReader), through read buffers the isolate keeps.
 */

/** The most one read of a body takes at once (see largeChunkReader). */
export const READ_CHUNK_BYTES = 256 * 1024;
/** A body's first read: most answers are smaller than this, and a read allocates its whole buffer. */
export const FIRST_READ_BYTES = 16 * 1024;

/** What largeChunkReader gives: reads, and a way to stop reading. */
export interface ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
}

/**
 * A reader that takes as much of a body as has arrived, up to READ_CHUNK_BYTES,
 * in one read. A socket's body comes in 4 KiB chunks, and every JavaScript
 * layer a chunk passes (the guard, the split, the stores) costs about the same
 * per chunk whatever its size: 30 MB in 4 KiB chunks took 300-400 ms per layer
 * under workerd, in 256 KiB chunks under 10. A read never waits for more than
 * what is there, so a body that trickles (events, long polls) passes as it
 * comes. The buffer starts at FIRST_READ_BYTES and grows while reads fill it
 * (nextReadSize), so a small answer allocates 16 KiB, not 256, and a body's
 * first bytes are not held for a large read; a read that fills less than half its buffer is
 * copied out, so no chunk holds more than twice its bytes. Streams that are
 * not byte streams are read as they chunk themselves. A body whose
 * `wholeLength` is known is read into one buffer of that length (wholeBodyReader).
 */
export function largeChunkReader(body: ReadableStream<Uint8Array>, wholeLength?: number): ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    return body.getReader();
  }
  if (wholeLength !== undefined && wholeLength > 0) return wholeBodyReader(byob, wholeLength);
  let size = FIRST_READ_BYTES;
  const read = async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    const asked = size;
    const { done, value } = await byob.read(new Uint8Array(asked));
    if (done || !value) return { done: true, value: undefined };
    if (value.byteLength === 0) return read();
    size = nextReadSize(asked, value.byteLength);
    return { done: false, value: value.byteLength * 2 < asked ? value.slice() : value };
  };
  return { read, cancel: (reason) => byob.cancel(reason) };
}

/** The next read's size, in both readers: twice this one's while reads fill their buffer (more is waiting), half when one fills less than half. */
function nextReadSize(asked: number, got: number): number {
  if (got === asked) return Math.min(asked * 2, READ_CHUNK_BYTES);
  return got * 2 < asked ? Math.max(FIRST_READ_BYTES, asked / 2) : asked;
}

/**
 * Read buffers no read holds now, kept for the next: a reader takes one, copies out of it (or
 * has the runtime take its bytes) and hands it back, so the isolate allocates a read buffer only
 * while more reads run at once than are kept.
 */
const spareReadBuffers: ArrayBuffer[] = [];
const MAX_SPARE_READ_BUFFERS = 8;

/** A read buffer of READ_CHUNK_BYTES: a spare one, or a new one when none is spare. */
export function takeReadBuffer(): ArrayBuffer {
  return spareReadBuffers.pop() ?? new ArrayBuffer(READ_CHUNK_BYTES);
}

/** A read buffer no read holds any more (what a BYOB read returned its bytes in), for the next reader. */
export function handBack(buffer: ArrayBufferLike): void {
  if (spareReadBuffers.length < MAX_SPARE_READ_BUFFERS) spareReadBuffers.push(buffer as ArrayBuffer);
}

/** How much of a body wholeBodyReader hands out as copies before it makes the body's buffer: its first answer goes out first. */
const WHOLE_BUFFER_AFTER_BYTES = 64 * 1024;

/**
 * A body of a known length, read into one buffer of that length: each chunk is a view of it, so
 * the chunks join without a copy (concat) and the whole body costs one allocation, not a fresh
 * buffer a read and another for the join. Fresh buffers cost their zeroing and page faults: a
 * POP's stored 1 MiB miss spent a quarter of its CPU on them.
 * - Reads go into a spare buffer, never into the body's own: a read transfers its buffer, which
 *   would empty every view handed out before it.
 * - The chunks of the first WHOLE_BUFFER_AFTER_BYTES are copies, and the body's buffer is made
 *   after them, their bytes at its start: made at the first read, a 1 MiB buffer's zeroing and
 *   page faults held a miss's first byte back at each tier (18-21 ms against 9-10 in the bench).
 * - Bytes past the length (a body its framing did not bound) come as copies of their own, and
 *   whoever checks the length sees them.
 */
function wholeBodyReader(byob: ReadableStreamBYOBReader, length: number): ChunkReader {
  let early: Uint8Array[] = [];
  let whole: Uint8Array | undefined;
  let filled = 0;
  const kept = (value: Uint8Array): Uint8Array => {
    if (filled + value.byteLength > length) return value.slice();
    filled += value.byteLength;
    if (!whole && filled < WHOLE_BUFFER_AFTER_BYTES) {
      const copy = value.slice();
      early.push(copy);
      return copy;
    }
    if (!whole) {
      whole = new Uint8Array(length);
      let at = 0;
      for (const copy of early) {
        whole.set(copy, at);
        at += copy.byteLength;
      }
      if (early[0]) buffersByFirstChunk.set(early[0], whole);
      early = [];
    }
    whole.set(value, filled - value.byteLength);
    return whole.subarray(filled - value.byteLength, filled);
  };
  let size = FIRST_READ_BYTES;
  const read = async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    const asked = size;
    const { done, value } = await byob.read(new Uint8Array(takeReadBuffer(), 0, asked));
    const chunk = !done && value && value.byteLength > 0 ? kept(value) : undefined;
    if (value) handBack(value.buffer);
    if (done || !value) return { done: true, value: undefined };
    if (!chunk) return read();
    size = nextReadSize(asked, chunk.byteLength);
    return { done: false, value: chunk };
  };
  return { read, cancel: (reason) => byob.cancel(reason) };
}

/**
 * A body's buffer (wholeBodyReader's), by the first chunk handed out before it existed: the
 * chunks handed out before it are copies of its start.
 */
const buffersByFirstChunk = new WeakMap<Uint8Array, Uint8Array>();

export function bufferStartingWith(first: Uint8Array): Uint8Array | undefined {
  return buffersByFirstChunk.get(first);
}
