import { describe, expect, it } from "vitest";
import { CompressionSchema } from "../../common/cache-config";
import { BACKGROUND_LEVELS_MAX_BYTES, backgroundLevels, encodeStream } from "./codecs";
import * as zlib from "node:zlib";

const config = CompressionSchema.parse({});

describe("background compression", () => {
  it("runs closer to the floor up to its bound, never below the configured levels, and as configured past it", () => {
    expect(backgroundLevels(config, 2_000_000)).toMatchObject({ brotliQuality: 10, zstdLevel: 19, gzipLevel: 9 });
    expect(backgroundLevels(config, 8_000_000)).toMatchObject({ brotliQuality: 9, zstdLevel: 19, gzipLevel: 9 });
    expect(backgroundLevels({ ...config, brotliQuality: 11 }, 2_000_000).brotliQuality).toBe(11);
    expect(backgroundLevels(config, BACKGROUND_LEVELS_MAX_BYTES + 1)).toEqual(config);
  });

  it("streams a body through the encoder: the bytes decode to the body", async () => {
    const text = new TextEncoder().encode("a line of text that repeats, more or less\n".repeat(50_000));
    const chunks = Array.from({ length: Math.ceil(text.byteLength / 65536) }, (_, i) => text.subarray(i * 65536, (i + 1) * 65536));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const encoded = await encodeStream("br", body, backgroundLevels(config, text.byteLength), text.byteLength);
    expect(encoded.byteLength).toBeLessThan(text.byteLength / 50);
    expect(Buffer.compare(zlib.brotliDecompressSync(encoded), Buffer.from(text))).toBe(0);
  });
});
