/**
 * Streams that may be sent on by the runtime's own framing instead of being
 * read in JavaScript: a sender registered for a stream that nobody has read
 * yet. deliver asks for it when a body goes to the client whole with its
 * length known; any other use (a store, a range, a decode) reads the stream
 * as it is, and the sender is never taken.
 */

/** Makes the framed body of `length` bytes; undefined when it cannot (then the stream is read as it is). */
type FramedSender = (length: number) => ReadableStream<Uint8Array> | undefined;

const senders = new WeakMap<ReadableStream<Uint8Array>, FramedSender>();

export function offerFramed(stream: ReadableStream<Uint8Array>, sender: FramedSender): void {
  senders.set(stream, sender);
}

/** The framed body for `stream`, when it has a sender and is unread; once taken, `stream` must not be read. */
export function sendFramed(stream: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> | undefined {
  const sender = senders.get(stream);
  if (!sender || stream.locked) return undefined;
  senders.delete(stream);
  return sender(length);
}
