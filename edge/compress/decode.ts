/**
 * Undoing codings an origin applied although we asked for identity. The
 * runtime's fetch decodes gzip and br by itself; deflate and zstd arrive as
 * sent, and stored as they are they would reach clients that never asked for
 * them. Decoded here while streaming (node:zlib streams under nodejs_compat),
 * they are stored as identity, and the edge compresses per client as usual.
 */
import * as zlib from "node:zlib";
import type { Transform } from "node:stream";

export type DecodableCoding = "deflate" | "zstd";

/** The coding of a response whose body we must decode ourselves; undefined for identity and the runtime's own. */
export function originCoding(contentEncoding: string | null): string | undefined {
  const coding = contentEncoding?.trim().toLowerCase();
  if (!coding || coding === "identity" || coding === "gzip" || coding === "x-gzip" || coding === "br") return undefined;
  return coding;
}

export function decodable(coding: string): coding is DecodableCoding {
  if (coding === "deflate") return true;
  return coding === "zstd" && typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === "function";
}

function decoderFor(coding: DecodableCoding): Transform {
  if (coding === "zstd") return (zlib as unknown as { createZstdDecompress: () => Transform }).createZstdDecompress();
  return zlib.createInflate();
}

/** How far decoding may go: bytes out, in all and against the bytes in (a bomb's tell). */
export interface DecodeLimits {
  /** Decoded bytes past which the body counts as a bomb, whatever the ratio. */
  maxBytes: number;
  /** Decoded bytes per encoded byte past which (beyond the first `ratioFloorBytes`) it counts as a bomb. */
  maxRatio: number;
}

/** Below this many decoded bytes the ratio is not judged: a small body's first chunk may expand a lot. */
const RATIO_FLOOR_BYTES = 1024 * 1024;

/** The first decoded bytes past a limit: `decoded` of `encoded` so far; undefined within them. */
export function decodeLimitExceeded(decoded: number, encoded: number, limits: DecodeLimits): string | undefined {
  if (decoded > limits.maxBytes) return `decoded body larger than ${limits.maxBytes} bytes`;
  if (decoded > RATIO_FLOOR_BYTES && decoded > limits.maxRatio * Math.max(1, encoded)) {
    return `decoded body ${Math.round(decoded / Math.max(1, encoded))} times its encoded size (limit ${limits.maxRatio})`;
  }
  return undefined;
}

/** Decoding went past its limits: the origin's body is treated as broken, and nothing of it is stored. */
export class DecodeLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeLimitError";
  }
}

/**
 * A node:zlib decoder driven by pulls: each output chunk is held, the
 * decoder paused, until the reader takes it; `changed` resolves when the
 * decoder has something new to say (output, its end, an error, a write done).
 */
class PulledDecoder {
  readonly ready: Uint8Array[] = [];
  ended = false;
  failed: Error | undefined;
  writing = false;
  #wake: () => void = () => undefined;

  constructor(readonly inflater: Transform) {
    inflater.on("data", (chunk: Uint8Array) => {
      this.ready.push(new Uint8Array(chunk));
      inflater.pause();
      this.#wake();
    });
    inflater.on("end", () => {
      this.ended = true;
      this.#wake();
    });
    inflater.on("error", (err: Error) => {
      this.failed = err;
      this.#wake();
    });
  }

  changed(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  write(chunk: Uint8Array): void {
    this.writing = true;
    this.inflater.write(chunk, () => {
      this.writing = false;
      this.#wake();
    });
  }

  /** The next output chunk; the decoder resumes once none is held. */
  take(): Uint8Array | undefined {
    const next = this.ready.shift();
    if (next && this.ready.length === 0) this.inflater.resume();
    return next;
  }
}

/**
 * The body decoded as it streams, pulled: input goes to the decoder only as
 * fast as the reader takes output (a slow client, or a store, never makes it
 * buffer), and output past the limits errors the stream with
 * DecodeLimitError. A corrupt body errors it too (the fill then fails like a
 * broken body).
 */
export function decodeStream(coding: DecodableCoding, body: ReadableStream<Uint8Array>, limits: DecodeLimits): ReadableStream<Uint8Array> {
  const decoder = new PulledDecoder(decoderFor(coding));
  const reader = body.getReader();
  let inputDone = false;
  let encodedBytes = 0;
  let decodedBytes = 0;
  const stop = (reason: unknown) => {
    decoder.inflater.destroy();
    void reader.cancel(reason).catch(() => undefined);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (decoder.failed) {
          stop(decoder.failed);
          throw decoder.failed;
        }
        const next = decoder.take();
        if (next) {
          decodedBytes += next.byteLength;
          const exceeded = decodeLimitExceeded(decodedBytes, encodedBytes, limits);
          if (exceeded) {
            const error = new DecodeLimitError(exceeded);
            stop(error);
            throw error;
          }
          return controller.enqueue(next);
        }
        if (decoder.ended) return controller.close();
        const changed = decoder.changed();
        if (decoder.writing || inputDone) {
          await changed;
          continue;
        }
        const { done, value } = await reader.read();
        if (done) {
          inputDone = true;
          decoder.inflater.end();
        } else {
          encodedBytes += value.byteLength;
          decoder.write(value);
        }
      }
    },
    cancel: (reason) => stop(reason),
  });
}

/**
 * A body the runtime decoded (gzip, br), counted against the same limits: its
 * encoded size is the origin's Content-Length, when it gave one.
 */
export function limitDecoded(body: ReadableStream<Uint8Array>, encodedBytes: number, limits: DecodeLimits): ReadableStream<Uint8Array> {
  let decoded = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        decoded += chunk.byteLength;
        const exceeded = decodeLimitExceeded(decoded, Number.isFinite(encodedBytes) ? encodedBytes : decoded, limits);
        if (exceeded) throw new DecodeLimitError(exceeded);
        controller.enqueue(chunk);
      },
    }),
  );
}
