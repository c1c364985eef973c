/**
 * The encoders, from node:zlib (workerd has brotli, gzip and zstd with
 * nodejs_compat; CompressionStream has no brotli). Synchronous: they run once
 * per object and coding, and the result is stored.
 */
import * as zlib from "node:zlib";
import type { CompressionConfig } from "../../common/config";
import type { Coding } from "../http/accept-encoding";

type ZstdSync = (buf: Uint8Array, options?: { params?: Record<number, number> }) => Uint8Array;

export function encode(coding: Coding, bytes: Uint8Array, config: CompressionConfig): Uint8Array {
  switch (coding) {
    case "br":
      return new Uint8Array(
        zlib.brotliCompressSync(bytes, {
          params: { [zlib.constants.BROTLI_PARAM_QUALITY]: config.brotliQuality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength },
        }),
      );
    case "gzip":
      return new Uint8Array(zlib.gzipSync(bytes, { level: config.gzipLevel }));
    case "zstd": {
      const zstd = (zlib as unknown as { zstdCompressSync?: ZstdSync }).zstdCompressSync;
      if (!zstd) throw new Error("zstd is not available in this runtime");
      const level = (zlib.constants as unknown as Record<string, number>).ZSTD_c_compressionLevel;
      return new Uint8Array(zstd(bytes, level !== undefined ? { params: { [level]: config.zstdLevel } } : undefined));
    }
  }
}

/** The codings this runtime can produce, in our order of preference. */
export function availableCodings(config: CompressionConfig): Coding[] {
  const hasZstd = typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === "function";
  return config.encodings.filter((c) => c !== "zstd" || hasZstd);
}
