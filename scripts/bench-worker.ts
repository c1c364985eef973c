/**
 * The in-process bench's worker (runs inside workerd, under Miniflare): it
 * drives the POP pipeline directly, N requests per call, with no socket and
 * no launcher in the way, against an origin stub answered from memory. The
 * bench times each call from outside (inside workerd the clock stands still
 * while code runs) and subtracts a call of N = 0.
 *   GET /run?case=hit-1k&n=2000 → {"case":…,"n":…,"originRequests":…}
 */
import { handleEdgeRequest } from "../edge/pipeline";
import { popFor } from "../edge/pop";
import { headersFrom } from "../edge/http/headers";
import type { Env } from "../common/env";
import type { PurgeRule } from "../common/snapshot";
import { zipfSampler } from "./zipf";

const STUB_HOST = "origin.stub";
const SITE = "https://bench.test";
const CF = {
  colo: "FRA",
  country: "DE",
  continent: "EU",
  city: "Frankfurt",
  latitude: "50.0379",
  longitude: "8.5622",
  timezone: "UTC",
  asn: 64512,
  httpProtocol: "HTTP/1.1",
  tlsVersion: "TLSv1.3",
  clientAcceptEncoding: "",
};

/** The reference origin's kind of body: text, compressible, deterministic. */
const bodies = new Map<number, Uint8Array>();
function textBody(size: number): Uint8Array {
  let body = bodies.get(size);
  if (!body) {
    const line = new TextEncoder().encode("Outpost bench line: the quick brown fox jumps over the lazy dog 0123456789.\n");
    body = new Uint8Array(size);
    for (let i = 0; i < size; i++) body[i] = line[i % line.length] ^ (i % 251 === 0 ? 1 : 0);
    bodies.set(size, body);
  }
  return body;
}

/** What a hit carries, for the floor: the same body, the same fields. */
const HIT_FIELDS: [string, string][] = [
  ["content-type", "text/plain; charset=utf-8"],
  ["cache-control", "public, max-age=86400"],
  ["etag", '"b-0123456789abcdef"'],
  ["last-modified", "Sun, 01 Nov 2026 00:00:00 GMT"],
  ["date", "Wed, 25 Nov 2026 00:00:00 GMT"],
  ["accept-ranges", "bytes"],
  ["age", "5"],
  ["via", "1.1 Outpost-BENCH"],
  ["cache-status", "Outpost-BENCH;hit;ttl=86395"],
  ["server-timing", 'cache;desc="hit", total;dur=0'],
];
/** Built once: the floor is the cheapest way to send these fields (a Response copies a Headers it is given). */
const HIT_HEADERS = headersFrom(HIT_FIELDS);

let originRequests = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  if (url.hostname !== STUB_HOST) return realFetch(input, init);
  originRequests++;
  const size = Number(url.pathname.split("/").pop()) || 1024;
  const stale = url.searchParams.has("stale");
  return new Response(textBody(size), {
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(size),
      "cache-control": stale ? "public, max-age=0, stale-while-revalidate=86400" : "public, max-age=86400",
      etag: `"b-${size}"`,
      "last-modified": "Sun, 01 Nov 2026 00:00:00 GMT",
    },
  });
}) as typeof fetch;

interface BenchEnv {
  OUTPOST_CONFIG: string;
}

interface Case {
  path: (i: number) => string;
  /** A cf object on each request, as Cloudflare's front (and Miniflare) attach one. */
  cf?: boolean;
  headers?: Record<string, string>;
  /** Purge rules in force while it runs. */
  rules?: number;
  floor?: number;
}

const CASES: Record<string, Case> = {
  "floor-1k": { path: () => "/", floor: 1024 },
  "floor-16k": { path: () => "/", floor: 16384 },
  "floor-256k": { path: () => "/", floor: 262144 },
  "hit-1k": { path: () => "/gen/1024" },
  "hit-16k": { path: () => "/gen/16384" },
  "hit-1k-cf": { path: () => "/gen/1024", cf: true },
  "hit-256k": { path: () => "/gen/262144" },
  "hit-br-16k": { path: () => "/gen/16384", headers: { "accept-encoding": "br" } },
  "hit-gzip-16k": { path: () => "/gen/16384", headers: { "accept-encoding": "gzip" } },
  "hit-br-256k": { path: () => "/gen/262144", headers: { "accept-encoding": "br" } },
  "hit-gzip-256k": { path: () => "/gen/262144", headers: { "accept-encoding": "gzip" } },
  "stale-1k": { path: () => "/gen/1024?stale" },
  "miss-16k": { path: (i) => `/gen/16384?u=${Date.now()}-${i}-${Math.random()}` },
  "hit-1k-10k-rules": { path: () => "/gen/1024", rules: 10_000 },
  "hit-1k-100k-rules": { path: () => "/gen/1024", rules: 100_000 },
  /** 100,000 objects of 1-8 KiB, asked for by a Zipf law (s = 1): the memory tier fills to its bound. */
  "zipf-100k": { path: () => zipfPath() },
  /** Cache-busting URLs: each a distinct 12 KB path with a one-byte body (the memory tier must count the keys). */
  "long-urls": { path: () => `/${LONG_SEGMENT}/gen/1?u=${++longUrlCounter}` },
};

const LONG_SEGMENT = "x".repeat(12 * 1024);
let longUrlCounter = 0;

const nextZipf = zipfSampler(100_000, 1.0, 7);
function zipfPath(): string {
  const object = nextZipf();
  return `/gen/${1024 * (1 + (object % 8))}?o=${object}`;
}

let rulesApplied = 0;
let seq = 0;

function ensureRules(env: Env, count: number): void {
  if (rulesApplied >= count) return;
  const pop = popFor(env, undefined);
  const rules: PurgeRule[] = [];
  // Tags no stored object carries: every lookup asks the ban list, none is purged.
  for (let i = rulesApplied; i < count; i++) rules.push({ seq: ++seq, id: `r${seq}`, at: Date.now() - 1000, soft: false, targets: [{ kind: "tag", value: `bench-rule-${i}` }] });
  pop.applyPurges(rules);
  rulesApplied = count;
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get("case") ?? "";
    const n = Math.min(100_000, Math.max(0, Number(url.searchParams.get("n") ?? 0)));
    const spec = CASES[name];
    if (!spec) return Response.json({ error: `no case "${name}"`, cases: Object.keys(CASES) }, { status: 404 });
    const edgeEnv = { OUTPOST_CONFIG: env.OUTPOST_CONFIG, POP_NAME: "BENCH" } as unknown as Env;
    const pending: Promise<unknown>[] = [];
    const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p), passThroughOnException: () => undefined, props: {} } as unknown as ExecutionContext;
    const before = originRequests;
    if (spec.floor !== undefined) {
      const body = textBody(spec.floor);
      for (let i = 0; i < n; i++) {
        void new Request(`${SITE}${spec.path(i)}`, { headers: spec.headers });
        await new Response(body, { headers: HIT_HEADERS }).arrayBuffer();
      }
    } else {
      if (spec.rules !== undefined) ensureRules(edgeEnv, spec.rules);
      // Warm: the object stored (and its encoded variant made) before the timed calls.
      if (n === 0) {
        const warm = await handleEdgeRequest(new Request(`${SITE}${spec.path(-1)}`, { headers: spec.headers, ...(spec.cf ? { cf: CF } : {}) }), edgeEnv, ctx);
        await warm.arrayBuffer();
      }
      for (let i = 0; i < n; i++) {
        const response = await handleEdgeRequest(new Request(`${SITE}${spec.path(i)}`, { headers: spec.headers, ...(spec.cf ? { cf: CF } : {}) }), edgeEnv, ctx);
        await response.arrayBuffer();
      }
    }
    await Promise.allSettled(pending);
    return Response.json({ case: name, n, originRequests: originRequests - before });
  },
};
