/**
 * Streams that may be sent on by the runtime's own streams instead of being
 * read in JavaScript: a sender registered for a stream that nobody has read
 * yet. deliver asks for it when a body goes to the client whole: framed by a
 * FixedLengthStream when its length is known, by the runtime's chunked
 * encoding (an IdentityTransformStream) when not. A miss too large for memory
 * asks for two at once, one for its client and one for its store (store.ts).
 * Any other use (a range, a decode, a body kept whole) reads the stream as it
 * is, and no sender is taken.
 */
import type { StreamAfter } from "./body";

/**
 * Makes the runtime's body: `length` bytes, or as many as come (`onEnd` told how many once it has
 * passed whole); undefined when it cannot (then the stream is read as it is).
 */
type RuntimeSender = (length: number | undefined, onEnd?: (bytes: number) => void) => ReadableStream<Uint8Array> | undefined;

/** How a body of known length goes to its client and its store at once (in-step-pump.ts). */
export interface InStepOptions {
  /** The body's length: both streams are of it, and a body that ends short or runs past it is broken. */
  length: number;
  /** The streams are made once this many bytes have come (or the whole body), or this long after the first did: a failure before then is the caller's to retry. */
  firstBytes: StreamAfter;
  /** When the first bytes must have come by (the request's deadline). */
  deadline: number;
  /** How long the store may leave the client waiting for a chunk before its copy is given up (teeInStep's rule). */
  storeIdleMs: number;
}

/** The runtime's two streams of one body, read in step: the slower paces both. */
export interface SentAndStored {
  client: ReadableStream<Uint8Array>;
  store: ReadableStream<Uint8Array>;
}

/** Makes both streams; rejects (OriginBodyError) when the body fails before its first bytes; undefined when it cannot. */
type RuntimeTee = (options: InStepOptions) => Promise<SentAndStored> | undefined;

const senders = new WeakMap<ReadableStream<Uint8Array>, { send: RuntimeSender; tee?: RuntimeTee }>();

export function offerToRuntime(stream: ReadableStream<Uint8Array>, send: RuntimeSender, tee?: RuntimeTee): void {
  senders.set(stream, { send, tee });
}

/** The runtime's body for `stream`, when it has a sender and is unread; once taken, `stream` must not be read. */
export function sendByRuntime(stream: ReadableStream<Uint8Array>, length: number | undefined, onEnd?: (bytes: number) => void): ReadableStream<Uint8Array> | undefined {
  const offered = senders.get(stream);
  if (!offered || stream.locked) return undefined;
  senders.delete(stream);
  return offered.send(length, onEnd);
}

/** The runtime's two streams of `stream` (for its client and its store), when it has a sender and is unread; once taken, `stream` must not be read. */
export function sendAndStoreByRuntime(stream: ReadableStream<Uint8Array>, options: InStepOptions): Promise<SentAndStored> | undefined {
  const offered = senders.get(stream);
  if (!offered?.tee || stream.locked) return undefined;
  const made = offered.tee(options);
  if (made) senders.delete(stream);
  return made;
}
