/**
 * The bench's zstd figures, under workerd: Node 20's zlib has no zstd, workerd's
 * node:zlib has. POST a text; the answer is the bytes of Outpost's zstd variants
 * as the product makes them: the stored one at the background level, the quick
 * one at compression.zstdLevel. Bytes only: a Worker's clock does not move while
 * it computes. The floor, `zstd -19`, is the command's (bench-miss-path.ts).
 */
import { CompressionSchema } from "../common/cache-config";
import { backgroundLevels, encode, encodeStream } from "../edge/compress/codecs";

export default {
  async fetch(request: Request): Promise<Response> {
    const bytes = new Uint8Array(await request.arrayBuffer());
    const config = CompressionSchema.parse({});
    const settled = await encodeStream("zstd", new Response(bytes).body as ReadableStream<Uint8Array>, backgroundLevels(config, bytes.byteLength), bytes.byteLength);
    const quick = bytes.byteLength <= config.maxBytes ? (await encode("zstd", bytes, config)).byteLength : undefined;
    return Response.json({ settled: settled.byteLength, quick });
  },
};
