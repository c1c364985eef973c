/**
 * Streams that may be sent on by the runtime's own streams instead of being
 * read in JavaScript: a sender registered for a stream that nobody has read
 * yet. deliver asks for it when a body goes to the client whole: framed by a
 * FixedLengthStream when its length is known, by the runtime's chunked
 * encoding (an IdentityTransformStream) when not. Any other use (a store, a
 * range, a decode) reads the stream as it is, and the sender is never taken.
 */

/**
 * Makes the runtime's body: `length` bytes, or as many as come (`onEnd` told how many once it has
 * passed whole); undefined when it cannot (then the stream is read as it is).
 */
type RuntimeSender = (length: number | undefined, onEnd?: (bytes: number) => void) => ReadableStream<Uint8Array> | undefined;

const senders = new WeakMap<ReadableStream<Uint8Array>, RuntimeSender>();

export function offerToRuntime(stream: ReadableStream<Uint8Array>, sender: RuntimeSender): void {
  senders.set(stream, sender);
}

/** The runtime's body for `stream`, when it has a sender and is unread; once taken, `stream` must not be read. */
export function sendByRuntime(stream: ReadableStream<Uint8Array>, length: number | undefined, onEnd?: (bytes: number) => void): ReadableStream<Uint8Array> | undefined {
  const sender = senders.get(stream);
  if (!sender || stream.locked) return undefined;
  senders.delete(stream);
  return sender(length, onEnd);
}
