/**
 * Stored bodies whose store can read a byte range itself: a large entry in
 * the colo's Cache API, which answers a Range request with only those bytes
 * (PLATFORM.md). A range served by reading the body from its start and
 * dropping what comes before it (a seek near the end of a 30 MB video read
 * all 30 MB: 117 ms for 100 bytes, by hand under npm start) is asked of the
 * store instead, once it starts past the body's first read. The body is read
 * as it is when the store cannot answer (the entry changed meanwhile, the
 * store failed). A registry beside the stream, as framed-body.ts's senders:
 * deliver slices any body the same way and never needs to know its store.
 */
import { READ_CHUNK_BYTES } from "./chunk-reader";

/** The bytes `start`..`end` (inclusive) of the body from its store; undefined when the store cannot answer them. */
export type RangeReader = (start: number, end: number) => Promise<ReadableStream<Uint8Array> | undefined>;

const readers = new WeakMap<ReadableStream<Uint8Array>, RangeReader>();

/** Registers the store's own range reads for `stream` (a stored body, unread). */
export function offerRanges(stream: ReadableStream<Uint8Array>, read: RangeReader): void {
  readers.set(stream, read);
}

/**
 * How far into a body a range may start and still be sliced from the body itself: within one read
 * of it (chunk-reader.ts), asking the store again costs more than it saves.
 */
export const SLICE_WITHIN_BYTES = READ_CHUNK_BYTES;

/**
 * The bytes `start`..`end` of `stream`: from its store when it has range reads and the range
 * starts past SLICE_WITHIN_BYTES (then `stream` is cancelled unread), else `slice(stream)`. The
 * store is asked when the client first reads, so a client gone before costs no read.
 */
export function rangeOf(
  stream: ReadableStream<Uint8Array>,
  start: number,
  end: number,
  slice: (stream: ReadableStream<Uint8Array>, start: number, end: number) => ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const read = readers.get(stream);
  if (!read || start < SLICE_WITHIN_BYTES || stream.locked) return slice(stream, start, end);
  readers.delete(stream);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let cancelled = false;
  const open = async (): Promise<ReadableStreamDefaultReader<Uint8Array>> => {
    const ranged = await read(start, end).catch(() => undefined);
    if (!ranged) return slice(stream, start, end).getReader();
    void stream.cancel().catch(() => undefined);
    // The client went while the store answered: its read is released too.
    if (cancelled) void ranged.cancel().catch(() => undefined);
    return ranged.getReader();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= await open();
        const next = await reader.read();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: async (reason) => {
        cancelled = true;
        await (reader ?? stream).cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
