/**
 * A growing body (growing-body.ts) read as the runtime's own stream: the platform half of
 * following a put, kept apart so that GrowingBody stays pure.
 */
import { offerToRuntime } from "../framed-body";
import type { GrowingBody } from "./growing-body";

/**
 * A reader of a growing body as the runtime's stream of its length: each row is written to it and
 * released once the write has resolved, when the runtime has taken its bytes (guarded-pump.ts
 * relies on the same), so that its buffer can be filled again. Undefined off workerd.
 */
export function runtimeReader(growing: GrowingBody, size: number): ReadableStream<Uint8Array> | undefined {
  if (typeof FixedLengthStream === "undefined" || size < 0) return undefined;
  const carrier = new FixedLengthStream(size);
  const writer = carrier.writable.getWriter();
  const position = growing.join();
  void (async () => {
    try {
      for (let next = await growing.take(position); next !== "end"; next = await growing.take(position)) {
        await writer.write(next.bytes);
        // Only a write that resolved frees the buffer: a failed one's bytes are never known to be out.
        next.release();
      }
      await writer.close();
    } catch (err) {
      // The write failed, or its client went: the stream errors (a body that ends short is never whole).
      await writer.abort(err).catch(() => undefined);
    } finally {
      growing.leave(position);
    }
  })();
  // Already the runtime's stream of its length: deliver sends it as it is. Piped through another
  // FixedLengthStream it took no chunk at all under workerd (in-step-pump.ts saw the same).
  offerToRuntime(carrier.readable, (length) => (length === size ? carrier.readable : undefined));
  return carrier.readable;
}
