/**
 * The encoders, from node:zlib (workerd has brotli, gzip and zstd with
 * nodejs_compat; CompressionStream has no brotli). They run once per object
 * and coding, and the result is stored.
 *
 * workerd's zstd fails ("Unexpected end of file") once one call's output passes
 * its output buffer: zstdCompressSync on any text whose zstd passes about 64 KB
 * whatever the options, and a stream whose write or final flush emits more than
 * chunkSize (16 KiB by default). So zstd always goes through a stream fed at
 * most ZSTD_WRITE_BYTES a write, with output buffers of ZSTD_CHUNK_BYTES: a
 * write's output, and the last flush (a block of at most 128 KiB), fit in one.
 */
import * as zlib from "node:zlib";
import type { CompressionConfig } from "../../common/config";
import type { Coding } from "../http/accept-encoding";
import { concat } from "../body";

/** zstd's output buffer, and the most fed to it a write (see above). */
const ZSTD_CHUNK_BYTES = 256 * 1024;
const ZSTD_WRITE_BYTES = 64 * 1024;

/** node:zlib's zstd, where the runtime has it (workerd does; Node 20 does not). */
interface ZstdApi {
  createZstdCompress?: (options?: zlib.ZlibOptions) => zlib.Gzip;
}
const zstdApi = zlib as unknown as ZstdApi;

/** The encoder's options for a coding at the configured levels: one place for the sync and the streaming encoders. */
function encoderOptions(coding: Coding, config: CompressionConfig, sizeHint: number): zlib.ZlibOptions | zlib.BrotliOptions | undefined {
  switch (coding) {
    case "br":
      return { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: config.brotliQuality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: sizeHint } };
    case "gzip":
      return { level: config.gzipLevel };
    case "zstd": {
      const level = (zlib.constants as unknown as Record<string, number>).ZSTD_c_compressionLevel;
      return { chunkSize: ZSTD_CHUNK_BYTES, ...(level !== undefined ? { params: { [level]: config.zstdLevel } } : {}) } as zlib.ZlibOptions;
    }
  }
}

function zstdMissing(): never {
  throw new Error("zstd is not available in this runtime");
}

/** A whole body at once (brotli and gzip synchronously; zstd through its stream, see above). */
export async function encode(coding: Coding, bytes: Uint8Array, config: CompressionConfig): Promise<Uint8Array> {
  const options = encoderOptions(coding, config, bytes.byteLength);
  switch (coding) {
    case "br":
      return new Uint8Array(zlib.brotliCompressSync(bytes, options as zlib.BrotliOptions));
    case "gzip":
      return new Uint8Array(zlib.gzipSync(bytes, options));
    case "zstd":
      return encodeStream(coding, new Response(bytes).body as ReadableStream<Uint8Array>, config, bytes.byteLength);
  }
}

/** The codings this runtime can produce, in our order of preference. */
export function availableCodings(config: CompressionConfig): Coding[] {
  const hasZstd = typeof zstdApi.createZstdCompress === "function";
  return config.encodings.filter((c) => c !== "zstd" || hasZstd);
}

/**
 * Levels for a variant made in the background, where no client waits: close to each coding's
 * floor (brotli 11, zstd 19, gzip 9). Brotli 10 is within a few per cent of 11's bytes on real
 * text at about a third of its CPU (swagger-ui's stylesheet: 1.03 in 65 ms; its 1.5 MB bundle:
 * 1.02 in 1 s), up to BACKGROUND_BEST_MAX_BYTES; brotli 9 (within about 10 %, a tenth of the CPU)
 * up to BACKGROUND_LEVELS_MAX_BYTES; past that the configured levels, so that one object's work
 * stays well inside a Workers invocation's CPU limit (30 s by default).
 */
export const BACKGROUND_LEVELS = { brotliQuality: 10, zstdLevel: 19, gzipLevel: 9 } as const;
export const BACKGROUND_BEST_MAX_BYTES = 4 * 1024 * 1024;
export const BACKGROUND_LEVELS_MAX_BYTES = 16 * 1024 * 1024;

export function backgroundLevels(config: CompressionConfig, size: number): CompressionConfig {
  if (size > BACKGROUND_LEVELS_MAX_BYTES) return config;
  const brotliQuality = size > BACKGROUND_BEST_MAX_BYTES ? BACKGROUND_LEVELS.brotliQuality - 1 : BACKGROUND_LEVELS.brotliQuality;
  return {
    ...config,
    brotliQuality: Math.max(config.brotliQuality, brotliQuality),
    zstdLevel: Math.max(config.zstdLevel, BACKGROUND_LEVELS.zstdLevel),
    gzipLevel: Math.max(config.gzipLevel, BACKGROUND_LEVELS.gzipLevel),
  };
}

/** A streaming encoder of node:zlib for a coding (the same settings as encode). */
function encoderStream(coding: Coding, config: CompressionConfig, sizeHint: number): zlib.Gzip | zlib.BrotliCompress {
  const options = encoderOptions(coding, config, sizeHint);
  switch (coding) {
    case "br":
      return zlib.createBrotliCompress(options as zlib.BrotliOptions);
    case "gzip":
      return zlib.createGzip(options);
    case "zstd":
      return (zstdApi.createZstdCompress ?? zstdMissing)(options);
  }
}

/**
 * Encodes a body as it streams: a chunk at a time into the encoder, waiting
 * for it to drain, so memory holds the encoded bytes (a fraction of the body)
 * and one chunk, not the body.
 */
export async function encodeStream(coding: Coding, body: ReadableStream<Uint8Array>, config: CompressionConfig, sizeHint: number): Promise<Uint8Array> {
  const encoder = encoderStream(coding, config, sizeHint);
  const out: Uint8Array[] = [];
  let length = 0;
  encoder.on("data", (chunk: Uint8Array) => {
    out.push(chunk);
    length += chunk.byteLength;
  });
  const finished = new Promise<void>((resolve, reject) => {
    encoder.on("end", resolve);
    encoder.on("error", reject);
  });
  const reader = body.getReader();
  const most = coding === "zstd" ? ZSTD_WRITE_BYTES : Infinity;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (let at = 0; at < value.byteLength; at += most) {
      if (!encoder.write(value.subarray(at, at + most))) await new Promise((resolve) => encoder.once("drain", resolve));
    }
  }
  encoder.end();
  await finished;
  return concat(out, length);
}
