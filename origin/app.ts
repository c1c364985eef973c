/**
 * The reference origin's content app (Hono): demo objects with validators,
 * Range and conditional requests, generated objects of any size, an endpoint
 * that answers with whatever headers a test asks for, and a health check.
 * Every response names the origin in x-origin-id.
 */
import { Hono, type Context } from "hono";
import { DEMO_CONTENT, textOfSize, type DemoObject } from "./content";
import { createHash } from "node:crypto";
import { deflateSync, gzipSync } from "node:zlib";

export interface OriginIdentity {
  id: string;
  region: string;
}

export interface OriginStats {
  requests: number;
  byPath: Record<string, number>;
  /** Of those, the ones that asked for a Range, by path. */
  rangesByPath: Record<string, number>;
}

/** Counts one request, by its path, for the admin port's /stats. */
export function countRequest(stats: OriginStats, path: string): void {
  stats.requests++;
  stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
}

const MAX_GENERATED_BYTES = 64 * 1024 * 1024;

function httpDate(d: Date): string {
  return d.toUTCString();
}

/** One satisfiable single range, or why not (RFC 9110 §14.2). */
function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    return n === 0 ? "unsatisfiable" : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return "unsatisfiable";
  if (end < start) return undefined;
  return { start, end };
}

function etagMatches(list: string, etag: string): boolean {
  if (list.trim() === "*") return true;
  const bare = etag.replace(/^W\//, "");
  return list.split(",").some((t) => t.trim().replace(/^W\//, "") === bare);
}

/** Sends an object the way a careful origin does: validators, 304, Range, HEAD. */
function sendObject(c: Context, obj: DemoObject): Response {
  const headers = new Headers({
    "content-type": obj.contentType,
    "cache-control": obj.cacheControl,
    "cache-tag": obj.tags.join(","),
    etag: obj.etag,
    "last-modified": httpDate(obj.lastModified),
    "accept-ranges": "bytes",
  });
  const inm = c.req.header("if-none-match");
  const ims = c.req.header("if-modified-since");
  if ((inm && etagMatches(inm, obj.etag)) || (!inm && ims && Date.parse(ims) >= obj.lastModified.getTime())) {
    headers.delete("content-type");
    return new Response(null, { status: 304, headers });
  }
  const range = c.req.header("range");
  const ifRange = c.req.header("if-range");
  if (range && (!ifRange || ifRange === obj.etag)) {
    const r = parseRange(range, obj.body.byteLength);
    if (r === "unsatisfiable") {
      headers.set("content-range", `bytes */${obj.body.byteLength}`);
      return new Response(null, { status: 416, headers });
    }
    if (r) {
      headers.set("content-range", `bytes ${r.start}-${r.end}/${obj.body.byteLength}`);
      const part = obj.body.subarray(r.start, r.end + 1);
      return new Response(c.req.method === "HEAD" ? null : part, { status: 206, headers });
    }
  }
  headers.set("content-length", String(obj.body.byteLength));
  return new Response(c.req.method === "HEAD" ? null : obj.body, { status: 200, headers });
}

let bomb: Uint8Array | undefined;
function deflateBomb(): Uint8Array {
  bomb ??= new Uint8Array(deflateSync(Buffer.alloc(64 * 1024 * 1024)));
  return bomb;
}

const generatedCache = new Map<string, DemoObject>();

function generated(size: number, ttl: number, tag: string | undefined): DemoObject {
  const id = `${size}/${ttl}/${tag ?? ""}`;
  let obj = generatedCache.get(id);
  if (!obj) {
    const body = textOfSize(size, `generated ${size} bytes`);
    obj = {
      body,
      contentType: "text/plain; charset=utf-8",
      cacheControl: ttl > 0 ? `public, max-age=${ttl}` : "no-store",
      tags: ["generated", ...(tag ? [tag] : [])],
      lastModified: new Date("2026-11-01T00:00:00Z"),
      etag: `"g-${createHash("sha1").update(id).digest("hex").slice(0, 16)}"`,
    };
    if (generatedCache.size > 256) generatedCache.clear();
    generatedCache.set(id, obj);
  }
  return obj;
}

/** Passes a body on, waiting `ms` once its first `after` bytes have gone. */
function pausing(after: number, ms: number): TransformStream<Uint8Array, Uint8Array> {
  let sent = 0;
  let paused = false;
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      if (paused || sent + chunk.byteLength <= after) {
        sent += chunk.byteLength;
        return controller.enqueue(chunk);
      }
      const head = after - sent;
      if (head > 0) controller.enqueue(chunk.subarray(0, head));
      paused = true;
      await new Promise((resolve) => setTimeout(resolve, ms));
      controller.enqueue(chunk.subarray(Math.max(0, head)));
    },
  });
}

/** Counters the answers show, so a test can tell a cached answer from a fresh one. */
interface AnswerCounters {
  echo: number;
  stamp: number;
}

function registerGenerated(app: Hono, counters: AnswerCounters): void {
  /**
   * /gen/16384?ttl=60&tag=t: a text object of that many bytes (&chunked=1 without a length, &stamp=1
   * with x-origin-stamp, &pauseAfter=65536&pauseMs=1500 a pause after that many bytes of the body, as
   * an origin that renders as it sends, &unbuffered=1 with X-Accel-Buffering: no). /gen/16384.css: the same under a file extension (one Cloudflare's zone caches).
   */
  app.get("/gen/:size", (c) => {
    const size = Number(c.req.param("size").replace(/\.[a-z0-9]{1,8}$/i, ""));
    if (!Number.isInteger(size) || size < 0 || size > MAX_GENERATED_BYTES) {
      return c.json({ error: `size must be an integer from 0 to ${MAX_GENERATED_BYTES}` }, 400);
    }
    const ttl = Number(c.req.query("ttl") ?? 60);
    const response = sendObject(c, generated(size, Number.isFinite(ttl) ? Math.max(0, Math.floor(ttl)) : 60, c.req.query("tag")));
    // ?stamp=1: every answer, 304s included, carries a field that changes (a cache must take it from a 304).
    if (c.req.query("stamp") === "1") response.headers.set("x-origin-stamp", String(++counters.stamp));
    // ?unbuffered=1: asks the caches in front to send the body as it comes (nginx's field), as a streamed page does.
    if (c.req.query("unbuffered") === "1") response.headers.set("x-accel-buffering", "no");
    const pauseAfter = Number(c.req.query("pauseAfter") ?? NaN);
    const pauseMs = Math.min(Number(c.req.query("pauseMs") ?? 0) || 0, 30_000);
    const pauses = Number.isInteger(pauseAfter) && pauseAfter >= 0 && pauseMs > 0;
    const chunked = c.req.query("chunked") === "1";
    // Reading .body turns the server's own answer into a stream of a copy of the bytes (30 MB: about
    // 50 ms and as much garbage, so every other large answer started 90 ms late): only when asked to.
    if (!pauses && !chunked) return response;
    const paused = pauses && response.body ? response.body.pipeThrough(pausing(pauseAfter, pauseMs)) : response.body;
    // ?chunked=1: the same bytes without Content-Length, as a streaming origin sends them.
    if (!chunked || !response.body) return paused === response.body ? response : new Response(paused, response);
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    return new Response(paused === response.body ? response.body.pipeThrough(new TransformStream()) : paused, { status: response.status, headers });
  });
}

function registerHeaders(app: Hono, identity: OriginIdentity, counters: AnswerCounters): void {
  /**
   * /headers?cache-control=max-age%3D5&etag=%22x%22: answers 200 (or ?status=)
   * with exactly those response headers and a body that counts requests, so a
   * test can tell a cached answer from a fresh one. With 304-<field>= parameters,
   * a matching If-None-Match gets a 304 carrying those fields.
   */
  app.all("/headers", (c) => {
    counters.echo++;
    const headers = new Headers({ "content-type": "text/plain; charset=utf-8" });
    const notModified = new Headers();
    let status = 200;
    for (const [name, value] of new URL(c.req.url).searchParams) {
      if (name === "status") status = Number(value) || 200;
      // 304-<field>=value: the fields of the 304 this answers a matching If-None-Match with.
      else if (name.startsWith("304-")) notModified.append(name.slice(4), value);
      else if (name !== "n") headers.append(name, value);
    }
    const etag = headers.get("etag");
    const inm = c.req.header("if-none-match");
    if ([...notModified.keys()].length > 0 && etag && inm && etagMatches(inm, etag)) {
      notModified.set("etag", etag);
      return new Response(null, { status: 304, headers: notModified });
    }
    const body = status === 204 || status === 304 ? null : `response ${counters.echo} from ${identity.id}\n`;
    return new Response(c.req.method === "HEAD" ? null : body, { status, headers });
  });
}

/** Origins that encode whatever the client asked: deflate (which fetch does not undo), a bomb, gzip. */
function registerCodings(app: Hono): void {
  /** Always deflate, whatever the client asked: a coding the runtime's fetch does not undo. */
  app.get("/deflated.txt", (_c) => {
    const body = deflateSync(textOfSize(8192, "deflated"));
    return new Response(body, {
      headers: { "content-type": "text/plain; charset=utf-8", "content-encoding": "deflate", "cache-control": "public, max-age=300", etag: '"defl-1"' },
    });
  });

  /**
   * /deflate-bomb: 64 MiB of zeros, deflated to about 64 KB (a ratio of about
   * 1,000), sent whatever the client asked: a decompression bomb in miniature.
   */
  app.get(
    "/deflate-bomb",
    () =>
      new Response(deflateBomb(), {
        headers: { "content-type": "text/plain", "content-encoding": "deflate", "cache-control": "public, max-age=300" },
      }),
  );

  /** Always gzip, whatever the client asked: an origin that compresses by itself. */
  app.get("/precompressed.txt", (_c) => {
    const body = gzipSync(textOfSize(8192, "precompressed"));
    return new Response(body, {
      headers: { "content-type": "text/plain; charset=utf-8", "content-encoding": "gzip", "cache-control": "public, max-age=300", etag: '"pre-1"', vary: "Accept-Encoding" },
    });
  });
}

/** Unsafe methods: the body's length back; with x-cacheable-post: 1, a POST answer names itself the target's representation. */
function registerUnsafeMethods(app: Hono): void {
  app.on(["POST", "PUT", "PATCH", "DELETE"], "*", async (c) => {
    const text = await c.req.text();
    // With x-cacheable-post: 1, a POST answer names itself the target's current representation.
    if (c.req.method === "POST" && c.req.header("x-cacheable-post") === "1") {
      const url = new URL(c.req.url);
      return c.json({ method: "POST", path: c.req.path, received: text.length, at: Date.now() }, 200, {
        "cache-control": "max-age=60",
        "content-location": url.pathname + url.search,
      });
    }
    return c.json({ method: c.req.method, path: c.req.path, received: text.length }, 200, { "cache-control": "no-store" });
  });
}

export function createOriginApp(identity: OriginIdentity, stats: OriginStats): Hono {
  const app = new Hono();
  const counters: AnswerCounters = { echo: 0, stamp: 0 };

  app.use("*", async (c, next) => {
    countRequest(stats, c.req.path);
    if (c.req.header("range") !== undefined) stats.rangesByPath[c.req.path] = (stats.rangesByPath[c.req.path] ?? 0) + 1;
    await next();
    c.res.headers.set("x-origin-id", identity.id);
    c.res.headers.set("x-origin-region", identity.region);
    if (!c.res.headers.has("date")) c.res.headers.set("date", httpDate(new Date()));
  });

  app.get("/health", (c) => c.json({ ok: true, id: identity.id, region: identity.region }, 200, { "cache-control": "no-store" }));
  app.get("/", (c) => c.redirect("/index.html", 302));
  registerGenerated(app, counters);
  registerHeaders(app, identity, counters);
  registerCodings(app);

  /** /echo?ttl=60: what reached the origin (method, path and query, every request field), cacheable for ttl seconds. */
  app.on(["GET", "HEAD"], "/echo", (c) => {
    const url = new URL(c.req.url);
    const ttl = Number(c.req.query("ttl") ?? 60);
    return c.json({ method: c.req.method, path: url.pathname + url.search, headers: Object.fromEntries(c.req.raw.headers) }, 200, {
      "cache-control": Number.isFinite(ttl) && ttl > 0 ? `public, max-age=${Math.floor(ttl)}` : "no-store",
    });
  });

  /** Preceded by a 103 Early Hints (written by server.ts): an interim answer, never the response. */
  app.get("/early-hints", (c) => c.text(`final answer ${++counters.echo}\n`, 200, { "cache-control": "public, max-age=600" }));

  app.get("/nocache", (c) => c.text(`uncacheable ${Date.now()}\n`, 200, { "cache-control": "no-store" }));
  app.get("/private", (c) => c.text(`private ${Date.now()}\n`, 200, { "cache-control": "private, max-age=60" }));

  registerUnsafeMethods(app);
  app.on(["GET", "HEAD"], "*", (c) => {
    const obj = DEMO_CONTENT[c.req.path];
    if (!obj) return c.text("not found\n", 404);
    return sendObject(c, obj);
  });

  return app;
}
