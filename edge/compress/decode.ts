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

function decoder(coding: DecodableCoding): Transform {
  if (coding === "zstd") return (zlib as unknown as { createZstdDecompress: () => Transform }).createZstdDecompress();
  return zlib.createInflate();
}

/** The body decoded as it streams; a corrupt body errors the stream (the fill then fails like a broken body). */
export function decodeStream(coding: DecodableCoding, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const inflater = decoder(coding);
  let failed: Error | undefined;
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      inflater.on("data", (chunk: Uint8Array) => controller.enqueue(new Uint8Array(chunk)));
      inflater.on("error", (err: Error) => {
        failed = err;
        controller.error(err);
      });
    },
    transform(chunk) {
      if (failed) throw failed;
      return new Promise<void>((resolve) => (inflater.write(chunk) ? resolve() : inflater.once("drain", resolve)));
    },
    flush() {
      return new Promise<void>((resolve, reject) => {
        if (failed) return reject(failed);
        inflater.once("end", resolve);
        inflater.once("error", reject);
        inflater.end();
      });
    },
  });
  return body.pipeThrough(transform);
}
