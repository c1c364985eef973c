/**
 * The miss path and the bytes on the wire, against their floors:
 * - a cold miss through a POP and its shield against the same object straight
 *   from the origin (time to first byte and to last byte), at 64 KiB, 1 MiB and
 *   30 MB, loopback, same run;
 * - the bytes of the variants Outpost stores (its own encoders and levels: the
 *   settled variant made behind the answer, and the quick one a first client
 *   gets in the request up to compression.maxBytes) against each coding's floor
 *   (brotli 11, gzip 9), on real text: swagger-ui's bundle and stylesheet from
 *   npm, with the CPU each cost (Node's zlib, which workerd's node:zlib wraps);
 * - a br hit's time against an identity hit's on a 1.7 MB text object.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { request } from "undici";
import { CompressionSchema } from "../common/cache-config";
import { backgroundLevels, encode, encodeStream } from "../edge/compress/codecs";
import type { Coding } from "../edge/http/accept-encoding";
import { Miniflare } from "miniflare";
import { bundledScript, COMPATIBILITY_DATE, FRONT_WORKER, frontWorker, originNamed, popAt, ROOT, type Topology, ZONE_CACHE_WORKER, zoneCacheWorker } from "./network";
import { median } from "./median";

export interface MissTiming {
  bytes: number;
  /** Medians over the rounds, ms. */
  direct: { firstByteMs: number; lastByteMs: number };
  throughShield: { firstByteMs: number; lastByteMs: number };
  /**
   * The same trip with nothing stored (the origin says no-store): what the tiers' hops cost here
   * by themselves (the front, the POP, the control plane's instance over loopback HTTP, the shard,
   * the zone's cache), against which the stores' own cost shows.
   */
  notStored: { firstByteMs: number; lastByteMs: number };
  /**
   * The floor of these hops under this launcher: bare pass-through workers in their place (one
   * Miniflare as the POP, one as the control plane's instance with a Durable Object as the shard,
   * reached over loopback HTTP as the POP reaches it), no cache code: what any Worker pays here.
   */
  bareHops: { firstByteMs: number; lastByteMs: number };
  /**
   * The bare shard inserting a body of this size into its SQLite, 1 MiB a row, and nothing else
   * (BARE_SHARD_SCRIPT's /sqlite/), less an empty trip's time, ms: what storing it costs the
   * shield's thread, where the Durable Object's storage is on disk as Outpost's is (raw workerd only).
   */
  sqliteInsertMs?: number;
  /**
   * CPU per trip, ms, the mean over the rounds, of the tiers' Worker processes (MissTargets.cpuMs):
   * the trip and the work behind its answer until the next one starts (its stores).
   */
  cpuMs?: { throughShield: number; notStored: number; bareHops: number };
}

/**
 * The bare shard: a Durable Object (SHARD) that fetches from ORIGIN, behind a worker that routes to it.
 * Asked for /sqlite/<bytes>, it fetches nothing: it inserts that many bytes into its SQLite, 1 MiB a
 * row from one buffer (as SqlStore writes a body), and answers 204: the storage's own time for a
 * body of that size, which a shield storing it pays on the thread that passes it on
 * (MissTiming.sqliteInsertMs).
 */
export const BARE_SHARD_SCRIPT = `import { DurableObject } from "cloudflare:workers";
const ROW_BYTES = 1 << 20;
const row = new Uint8Array(ROW_BYTES).fill(120);
let inserts = 0;
export class Shard extends DurableObject {
  fetch(request) {
    const url = new URL(request.url);
    const sqlite = /^\\/sqlite\\/(\\d+)$/.exec(url.pathname);
    if (!sqlite) return fetch(this.env.ORIGIN + url.pathname + url.search, { headers: request.headers });
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS chunks (key TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (key, n))");
    const key = String(++inserts);
    const bytes = Number(sqlite[1]);
    for (let at = 0, n = 0; at < bytes; at += ROW_BYTES) sql.exec("INSERT INTO chunks (key, n, data) VALUES (?, ?, ?)", key, n++, row.subarray(0, Math.min(ROW_BYTES, bytes - at)));
    return new Response(null, { status: 204 });
  }
}
export default { fetch(request, env) { return env.SHARD.get(env.SHARD.idFromName("shard")).fetch(request); } };`;

/** The bare POP: passes each request on to NEXT (the shard's instance). */
export const BARE_POP_SCRIPT = `export default { fetch(request, env) { return env.NEXT.fetch(request.url, { headers: request.headers }); } };`;

/**
 * The POP's and the shard's hops as bare pass-through workers (see MissTiming.bareHops), wired as the
 * network wires Outpost's: clients reach the POP worker through production's front, the POP reaches
 * the control plane's instance by an external service binding, the shard is a Durable Object there,
 * and the shard's origin fetch passes the zone's cache (the outbound service), as Outpost's do.
 */
async function startBareHops(originUrl: string, cf: Record<string, unknown>): Promise<{ url: string; stop: () => Promise<void> }> {
  // Loopback, a free port, no request log: as the network's instances run.
  const instance = { host: "127.0.0.1", port: 0, cf, logRequests: false } as const;
  const script = { modules: true, compatibilityDate: COMPATIBILITY_DATE } as const;
  const shardInstance = new Miniflare({
    ...instance,
    workers: [
      {
        ...script,
        name: "bare-shard",
        bindings: { ORIGIN: originUrl },
        durableObjects: { SHARD: { className: "Shard", useSQLite: true } },
        outboundService: ZONE_CACHE_WORKER,
        script: BARE_SHARD_SCRIPT,
      },
      zoneCacheWorker(),
    ],
  });
  const shardUrl = new URL(await shardInstance.ready);
  const popInstance = new Miniflare({
    ...instance,
    workers: [
      {
        ...script,
        name: "bare-pop",
        serviceBindings: { NEXT: { external: { address: `127.0.0.1:${shardUrl.port}`, http: {} } } },
        outboundService: ZONE_CACHE_WORKER,
        script: BARE_POP_SCRIPT,
      },
      frontWorker(["bare-pop"], cf, 0),
      zoneCacheWorker(),
    ],
  });
  await popInstance.ready;
  const popUrl = await popInstance.unsafeGetDirectURL(FRONT_WORKER);
  return { url: popUrl.origin, stop: async () => void (await Promise.allSettled([popInstance.dispose(), shardInstance.dispose()])) };
}

let counter = 0;

/**
 * One trip, timed to its first and last byte. Anything but a 200 (with `expectedBytes` of body, when
 * given) is an error, not a figure: a 502 answered in 11 ms once read as a fast miss.
 */
async function timed(
  url: string,
  headers: Record<string, string> = {},
  expectedBytes?: number,
): Promise<{ firstByteMs: number; lastByteMs: number; bytes: number; encoding: string | undefined }> {
  const started = performance.now();
  let bytes = 0;
  let head = "no headers";
  try {
    const answer = await request(url, { headers });
    const firstByteMs = performance.now() - started;
    head = `${answer.statusCode}, cache-status ${answer.headers["cache-status"] ?? "none"}`;
    for await (const chunk of answer.body) bytes += (chunk as Buffer).byteLength;
    if (answer.statusCode !== 200 || (expectedBytes !== undefined && bytes !== expectedBytes))
      throw new Error(`not a whole 200${expectedBytes === undefined ? "" : ` of ${expectedBytes} bytes`}`);
    return { firstByteMs, lastByteMs: performance.now() - started, bytes, encoding: [answer.headers["content-encoding"]].flat()[0] };
  } catch (err) {
    // Named: a trip that fails says where it went, what it was answered and how far its body came.
    const after = Math.round(performance.now() - started);
    throw new Error(`${url}: ${(err as Error).message} after ${after} ms (${head}; ${bytes} bytes of body)`, { cause: err });
  }
}

export const IDENTITY = { "accept-encoding": "identity" };

export const round1 = (x: number) => Math.round(x * 10) / 10;

/** A pause after a trip of `bytes`, long enough for its stores to finish behind the answer: 100 ms and 20 ms a MB. */
const settle = (bytes: number) => new Promise((resolve) => setTimeout(resolve, 100 + Math.ceil(bytes / 50_000)));

/** Each kind of trip's CPU (MissTiming.cpuMs), summed over its rounds: a trip and its settle. */
function cpuPerTrip(cpuMs: (() => number) | undefined) {
  const sums = { throughShield: 0, notStored: 0, bareHops: 0 };
  return {
    during: async <T>(kind: keyof typeof sums, trip: () => Promise<T>, bytes: number): Promise<T> => {
      const before = cpuMs?.() ?? Number.NaN;
      const result = await trip();
      await settle(bytes);
      sums[kind] += (cpuMs?.() ?? Number.NaN) - before;
      return result;
    },
    means: (rounds: number): Pick<MissTiming, "cpuMs"> =>
      Number.isNaN(sums.throughShield)
        ? {}
        : { cpuMs: { throughShield: round1(sums.throughShield / rounds), notStored: round1(sums.notStored / rounds), bareHops: round1(sums.bareHops / rounds) } },
  };
}

/** Where one launcher's cold misses go: a POP (its shield behind it), the origin itself, and the same hops as bare workers. */
export interface MissTargets {
  popUrl: string;
  originUrl: string;
  bareHopsUrl: string;
  /** CPU used so far by the tiers' Worker processes (not the Cache API's store), ms, when the launcher can tell. */
  cpuMs?: () => number;
  /** Whether the bare shard's storage is on disk as Outpost's is, so that its SQLite's time (MissTiming.sqliteInsertMs) is the shield's. */
  bareShardStores?: boolean;
}

/** The bare shard's SQLite inserting `bytes` (MissTiming.sqliteInsertMs): the trip, less an empty one's. */
async function sqliteInsertMs(bareHopsUrl: string, bytes: number): Promise<number> {
  const trip = async (size: number) => {
    const started = performance.now();
    const answer = await request(`${bareHopsUrl}/sqlite/${size}`);
    await answer.body.dump();
    if (answer.statusCode !== 204) throw new Error(`${bareHopsUrl}/sqlite/${size}: ${answer.statusCode}, not 204`);
    return performance.now() - started;
  };
  const empty = await trip(0);
  const inserted = await trip(bytes);
  await settle(bytes);
  return Math.max(0, inserted - empty);
}

/** Cold objects through the POP (and its shield), straight from the origin, and through bare hops, in turn. */
export async function coldMissRounds(targets: MissTargets, sizes = [64 * 1024, 1024 * 1024, 30_000_000], rounds = 5): Promise<MissTiming[]> {
  const { popUrl, originUrl, bareHopsUrl } = targets;
  const out: MissTiming[] = [];
  // Warm-up, not counted: the first misses after a start pay for JIT and the shards' first use.
  for (let i = 0; i < 8; i++) {
    await timed(`${popUrl}/gen/16384?ttl=600&warm=${process.pid}-${++counter}`, IDENTITY);
    await timed(`${bareHopsUrl}/gen/16384?ttl=600&warm=${process.pid}-${++counter}`, IDENTITY);
  }
  for (const bytes of sizes) {
    const cpu = cpuPerTrip(targets.cpuMs);
    const direct: { firstByteMs: number; lastByteMs: number }[] = [];
    const shielded: { firstByteMs: number; lastByteMs: number }[] = [];
    const notStored: { firstByteMs: number; lastByteMs: number }[] = [];
    const bareHops: { firstByteMs: number; lastByteMs: number }[] = [];
    // The origin makes each size once and keeps it: the first answer pays for that, not a round.
    await timed(`${originUrl}/gen/${bytes}?ttl=600`, IDENTITY);
    for (let i = 0; i < rounds; i++) {
      const path = `/gen/${bytes}?ttl=600&miss=${process.pid}-${++counter}`;
      // Each trip starts once the last one's work behind its answer (the stores) is done, or on two
      // cores the next trip, the direct one too, would share the CPU with it.
      direct.push(await timed(`${originUrl}${path}`, IDENTITY, bytes));
      await settle(bytes);
      shielded.push(await cpu.during("throughShield", () => timed(`${popUrl}${path}`, IDENTITY, bytes), bytes));
      notStored.push(await cpu.during("notStored", () => timed(`${popUrl}/gen/${bytes}?ttl=0&pass=${process.pid}-${++counter}`, IDENTITY, bytes), bytes));
      bareHops.push(await cpu.during("bareHops", () => timed(`${bareHopsUrl}${path}`, IDENTITY, bytes), bytes));
    }
    const medians = (runs: { firstByteMs: number; lastByteMs: number }[]) => ({
      firstByteMs: round1(median(runs.map((d) => d.firstByteMs))),
      lastByteMs: round1(median(runs.map((d) => d.lastByteMs))),
    });
    out.push({ bytes, direct: medians(direct), throughShield: medians(shielded), notStored: medians(notStored), bareHops: medians(bareHops), ...cpu.means(rounds) });
  }
  // Apart, after every miss: the inserts' writes to disk must not be what the misses wait on.
  if (targets.bareShardStores) {
    for (const timing of out) {
      const inserts: number[] = [];
      for (let i = 0; i < rounds; i++) inserts.push(await sqliteInsertMs(bareHopsUrl, timing.bytes));
      timing.sqliteInsertMs = round1(median(inserts));
    }
  }
  return out;
}

/** Cold objects through FRA of the Miniflare network and straight from FRA's nearest origin. */
export async function measureColdMisses(topology: Topology, sizes?: number[], rounds?: number): Promise<MissTiming[]> {
  const fra = popAt(topology, "FRA");
  const origin = originNamed(topology, "eu-central");
  const bare = await startBareHops(origin.url, { colo: fra.colo });
  try {
    return await coldMissRounds({ popUrl: fra.url, originUrl: origin.url, bareHopsUrl: bare.url }, sizes, rounds);
  } finally {
    await bare.stop();
  }
}

/** A variant's bytes, over its coding's floor, and its CPU (absent under workerd, whose clock stands still while it computes). */
export interface VariantFigure {
  bytes: number;
  overFloor: number;
  cpuMs?: number;
}

/** `zstd -19`'s bytes for a text (the zstd command; Debian's zstd package), or undefined without it. */
function zstdFloor(text: Uint8Array): number | undefined {
  try {
    return execFileSync("zstd", ["-19", "-q", "-c"], { input: text, maxBuffer: 64 << 20 }).byteLength;
  } catch {
    return undefined;
  }
}

/** zstd's variants for each text, made by the product's encoders under workerd (bench-zstd-worker.ts), and the floor. */
async function zstdUnderWorkerd(texts: Uint8Array[]): Promise<{ settled: number; quick?: number; floor?: number }[]> {
  const mf = new Miniflare({
    modules: true,
    script: bundledScript("bench-zstd-worker.ts"),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ["nodejs_compat"],
  });
  try {
    const out = [];
    for (const text of texts) {
      const response = await mf.dispatchFetch("http://zstd.bench/", { method: "POST", body: text });
      out.push({ ...((await response.json()) as { settled: number; quick?: number }), floor: zstdFloor(text) });
    }
    return out;
  } finally {
    await mf.dispose();
  }
}

export interface VariantFloor {
  file: string;
  bytes: number;
  /**
   * Outpost's variants, each coding against its own floor: the one stored for good (made behind
   * the answer at the background levels) and, up to compression.maxBytes, the quick one the first
   * client gets while that is made; bytes / the floor's, and the CPU each cost.
   */
  variants: { coding: Coding; settled: VariantFigure; firstAnswer?: VariantFigure }[];
  /** Each coding's floor: brotli 11, gzip 9 (zlib's best), and `zstd -19` (the command, when installed; Node 20's zlib has no zstd). */
  floors: Record<"br" | "gzip", { bytes: number; cpuMs: number }> & { zstd?: { bytes: number } };
  /** gzip's settled bytes / brotli 11's: what a client that only takes gzip pays. */
  gzipOverBrotliFloor: number;
}

function cpuMs<T>(work: () => T): { value: T; ms: number } {
  const started = process.cpuUsage();
  const value = work();
  const used = process.cpuUsage(started);
  return { value, ms: round1((used.user + used.system) / 1000) };
}

async function cpuMsAsync<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = process.cpuUsage();
  const value = await work();
  const used = process.cpuUsage(started);
  return { value, ms: round1((used.user + used.system) / 1000) };
}

const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

/** swagger-ui-dist's bundle (1.5 MB, past compression.maxBytes) and stylesheet (179 KB). */
export async function measureVariantFloor(): Promise<VariantFloor[]> {
  const config = CompressionSchema.parse({});
  const files = ["swagger-ui-bundle.js", "swagger-ui.css"].map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(ROOT, "node_modules", "swagger-ui-dist", name))) }));
  const out: VariantFloor[] = [];
  const zstd = await zstdUnderWorkerd(files.map((f) => f.bytes));
  for (const [index, { name, bytes }] of files.entries()) {
    const br = cpuMs(
      () => zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength } }).byteLength,
    );
    const gzip = cpuMs(() => zlib.gzipSync(bytes, { level: 9 }).byteLength);
    const zstdFloorBytes = zstd[index].floor;
    const floors = { br: { bytes: br.value, cpuMs: br.ms }, gzip: { bytes: gzip.value, cpuMs: gzip.ms }, ...(zstdFloorBytes ? { zstd: { bytes: zstdFloorBytes } } : {}) };
    const variants: VariantFloor["variants"] = [];
    for (const coding of ["br", "gzip"] as const) {
      const floor = floors[coding].bytes;
      const settled = await cpuMsAsync(
        async () => (await encodeStream(coding, new Response(bytes).body as ReadableStream<Uint8Array>, backgroundLevels(config, bytes.byteLength), bytes.byteLength)).byteLength,
      );
      const variant: VariantFloor["variants"][number] = { coding, settled: { bytes: settled.value, overFloor: ratio(settled.value, floor), cpuMs: settled.ms } };
      if (bytes.byteLength <= config.maxBytes) {
        const quick = await cpuMsAsync(async () => (await encode(coding, bytes, config)).byteLength);
        variant.firstAnswer = { bytes: quick.value, overFloor: ratio(quick.value, floor), cpuMs: quick.ms };
      }
      variants.push(variant);
    }
    const { settled, quick } = zstd[index];
    if (zstdFloorBytes) {
      variants.push({
        coding: "zstd",
        settled: { bytes: settled, overFloor: ratio(settled, zstdFloorBytes) },
        ...(quick !== undefined ? { firstAnswer: { bytes: quick, overFloor: ratio(quick, zstdFloorBytes) } } : {}),
      });
    }
    const gzipSettled = variants.find((v) => v.coding === "gzip")!.settled.bytes;
    out.push({ file: name, bytes: bytes.byteLength, variants, floors, gzipOverBrotliFloor: ratio(gzipSettled, floors.br.bytes) });
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
  const fra = popAt(topology, "FRA");
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
