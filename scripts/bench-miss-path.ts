/**
 * The miss path and the bytes on the wire, against their floors:
 * - a cold miss through a POP and its shield against the same object straight
 *   from the origin (time to first byte and to last byte), at 64 KiB, 1 MiB and
 *   30 MB, loopback, same run;
 * - the bytes of the variants Outpost stores (its own encoders and levels: in
 *   the request up to compression.maxBytes, in the background past it) against
 *   brotli 11, on real text: swagger-ui's bundle and stylesheet from npm, with
 *   the CPU each cost (Node's zlib, the same library workerd's node:zlib wraps);
 * - a br hit's time against an identity hit's on a 1.7 MB text object.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { request } from "undici";
import { CompressionSchema } from "../common/cache-config";
import { backgroundLevels, encode, encodeStream } from "../edge/compress/codecs";
import type { Coding } from "../edge/http/accept-encoding";
import type { Topology } from "./network";
import { ROOT } from "./network";

export interface MissTiming {
  bytes: number;
  /** Medians over the rounds, ms. */
  direct: { firstByteMs: number; lastByteMs: number };
  throughShield: { firstByteMs: number; lastByteMs: number };
}

let counter = 0;

async function timed(url: string, headers: Record<string, string> = {}): Promise<{ firstByteMs: number; lastByteMs: number; bytes: number; encoding: string | undefined }> {
  const started = performance.now();
  const answer = await request(url, { headers });
  const firstByteMs = performance.now() - started;
  let bytes = 0;
  for await (const chunk of answer.body) bytes += (chunk as Buffer).byteLength;
  return { firstByteMs, lastByteMs: performance.now() - started, bytes, encoding: [answer.headers["content-encoding"]].flat()[0] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Cold objects through FRA (and its shield) and straight from FRA's nearest origin, alternately. */
export async function measureColdMisses(topology: Topology, sizes = [64 * 1024, 1024 * 1024, 30_000_000], rounds = 5): Promise<MissTiming[]> {
  const fra = topology.pops.find((p) => p.colo === "FRA") ?? topology.pops[0];
  const origin = topology.origins.find((o) => o.id === "eu-central") ?? topology.origins[0];
  const out: MissTiming[] = [];
  // Warm-up, not counted: the first misses after a start pay for JIT and the shards' first use.
  for (let i = 0; i < 8; i++) await timed(`${fra.url}/gen/16384?ttl=600&warm=${process.pid}-${++counter}`, { "accept-encoding": "identity" });
  for (const bytes of sizes) {
    const direct: { firstByteMs: number; lastByteMs: number }[] = [];
    const shielded: { firstByteMs: number; lastByteMs: number }[] = [];
    // The origin makes each size once and keeps it: the first answer pays for that, not a round.
    await timed(`${origin.url}/gen/${bytes}?ttl=600`, { "accept-encoding": "identity" });
    for (let i = 0; i < rounds; i++) {
      const path = `/gen/${bytes}?ttl=600&miss=${process.pid}-${++counter}`;
      direct.push(await timed(`${origin.url}${path}`, { "accept-encoding": "identity" }));
      shielded.push(await timed(`${fra.url}${path}`, { "accept-encoding": "identity" }));
    }
    out.push({
      bytes,
      direct: { firstByteMs: round1(median(direct.map((d) => d.firstByteMs))), lastByteMs: round1(median(direct.map((d) => d.lastByteMs))) },
      throughShield: { firstByteMs: round1(median(shielded.map((d) => d.firstByteMs))), lastByteMs: round1(median(shielded.map((d) => d.lastByteMs))) },
    });
  }
  return out;
}

export interface VariantFloor {
  file: string;
  bytes: number;
  /** Outpost's stored variant: how it is made at this size, its bytes / the floor's, and its CPU. */
  variants: { coding: Coding; made: "in the request" | "in the background"; bytes: number; overFloor: number; cpuMs: number }[];
  floor: { coding: "br"; quality: 11; bytes: number; cpuMs: number };
}

function cpuMs<T>(work: () => T): { value: T; ms: number } {
  const started = process.cpuUsage();
  const value = work();
  const used = process.cpuUsage(started);
  return { value, ms: round1((used.user + used.system) / 1000) };
}

/** swagger-ui-dist's bundle (1.5 MB, past compression.maxBytes) and stylesheet (179 KB). */
export async function measureVariantFloor(): Promise<VariantFloor[]> {
  const config = CompressionSchema.parse({});
  const files = ["swagger-ui-bundle.js", "swagger-ui.css"].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(ROOT, "node_modules", "swagger-ui-dist", name))) }));
  const out: VariantFloor[] = [];
  for (const { name, bytes } of files) {
    const floor = cpuMs(
      () => zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength } }).byteLength,
    );
    const variants: VariantFloor["variants"] = [];
    // zstd: Node 20's zlib has none (workerd's has); br and gzip as Outpost makes them.
    for (const coding of ["br", "gzip"] as const) {
      const background = bytes.byteLength > config.maxBytes;
      let made: number;
      let ms: number;
      if (background) {
        const started = process.cpuUsage();
        made = (await encodeStream(coding, new Response(bytes).body as ReadableStream<Uint8Array>, backgroundLevels(config, bytes.byteLength), bytes.byteLength)).byteLength;
        const used = process.cpuUsage(started);
        ms = round1((used.user + used.system) / 1000);
      } else {
        const r = cpuMs(() => encode(coding, bytes, config).byteLength);
        made = r.value;
        ms = r.ms;
      }
      variants.push({ coding, made: background ? "in the background" : "in the request", bytes: made, overFloor: Math.round((made / floor.value) * 1000) / 1000, cpuMs: ms });
    }
    out.push({ file: name, bytes: bytes.byteLength, variants, floor: { coding: "br", quality: 11, bytes: floor.value, cpuMs: floor.ms } });
  }
  return out;
}

export interface CodingHits {
  bytes: number;
  /** Median ms of a hit, by coding asked for (identity: Accept-Encoding: identity). */
  ms: Record<"identity" | "br" | "gzip", number>;
  /** What each coding's hit carried. */
  sentBytes: Record<"identity" | "br" | "gzip", number>;
}

/** A 1.7 MB text object at FRA: once its variants are stored (made in the background), each coding's hit time. */
export async function measureCodingHits(topology: Topology, bytes = 1_700_000, rounds = 15): Promise<CodingHits> {
  const fra = topology.pops.find((p) => p.colo === "FRA") ?? topology.pops[0];
  const url = `${fra.url}/gen/${bytes}?ttl=86400&codings=${process.pid}`;
  const codings = ["identity", "br", "gzip"] as const;
  // Until each coding comes as itself from every isolate: the variants are made after the first asks.
  for (const coding of codings) {
    for (let tries = 0, inARow = 0; tries < 200 && inARow < 4; tries++) {
      const r = await timed(url, { "accept-encoding": coding });
      inARow = (r.encoding ?? "identity") === coding ? inARow + 1 : 0;
      if (inARow === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const ms = {} as CodingHits["ms"];
  const sentBytes = {} as CodingHits["sentBytes"];
  for (const coding of codings) {
    const runs = [];
    for (let i = 0; i < rounds; i++) runs.push(await timed(url, { "accept-encoding": coding }));
    ms[coding] = round1(median(runs.map((r) => r.lastByteMs)));
    sentBytes[coding] = runs[0].bytes;
  }
  return { bytes, ms, sentBytes };
}
