/**
 * deliver: the last state. Turns a representation (stored or just fetched)
 * into the client's response: preconditions (304/412), Range (206/416), HEAD,
 * Age, Via and Cache-Status, and the fields only Outpost may see removed.
 */
import { appendCacheStatus, type CacheStatusEntry } from "./http/cache-status";
import { evaluatePreconditions, NOT_MODIFIED_FIELDS } from "./http/conditional";
import { stripHopByHop } from "./http/headers";
import { ifRangeAllowsPartial, resolveRange } from "./http/range";
import { FIELDS_REMOVED_BEFORE_CLIENT } from "./http/targeted";

export interface Representation {
  status: number;
  headers: Headers;
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** Body length when known. */
  size: number | undefined;
}

export interface DeliverOptions {
  popName: string;
  cacheStatus: CacheStatusEntry;
  /** Age to send, seconds; undefined leaves the upstream Age as it came. */
  age?: number;
  /** Keep Cache-Tag / Surrogate-Key for debugging. */
  debug: boolean;
  /** Answer preconditions and Range here (true for anything that came through the cache). */
  evaluateRequest: boolean;
}

/** Fields that describe routing or caching inside the CDN and are no business of the client's. */
const INTERNAL_FIELDS = ["cache-tag", "surrogate-key"];

function sliceStream(stream: ReadableStream<Uint8Array>, start: number, end: number): ReadableStream<Uint8Array> {
  let offset = 0;
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const chunkStart = offset;
      const chunkEnd = offset + chunk.byteLength; // exclusive
      offset = chunkEnd;
      const from = Math.max(start, chunkStart);
      const to = Math.min(end + 1, chunkEnd);
      if (from < to) controller.enqueue(chunk.subarray(from - chunkStart, to - chunkStart));
      if (offset > end) controller.terminate();
    },
  });
  return stream.pipeThrough(transform);
}

function sliceBody(body: Representation["body"], start: number, end: number): Uint8Array | ReadableStream<Uint8Array> | null {
  if (body === null) return null;
  if (body instanceof Uint8Array) return body.subarray(start, end + 1);
  return sliceStream(body, start, end);
}

/** A stream of known size goes out with Content-Length rather than chunked. */
function withKnownLength(body: Representation["body"], size: number | undefined): Representation["body"] {
  if (body === null || body instanceof Uint8Array || size === undefined) return body;
  if (typeof FixedLengthStream === "undefined") return body;
  return body.pipeThrough(new FixedLengthStream(size));
}

async function discard(body: Representation["body"]): Promise<void> {
  if (body && !(body instanceof Uint8Array)) await body.cancel().catch(() => undefined);
}

function finalHeaders(source: Headers, options: DeliverOptions): Headers {
  const headers = new Headers(source);
  stripHopByHop(headers);
  // The runtime frames the body itself; a stale length (say, of bytes it decoded) would corrupt it.
  headers.delete("content-length");
  for (const name of FIELDS_REMOVED_BEFORE_CLIENT) headers.delete(name);
  if (!options.debug) for (const name of INTERNAL_FIELDS) headers.delete(name);
  if (options.age !== undefined) headers.set("age", String(Math.max(0, Math.floor(options.age))));
  const via = headers.get("via");
  headers.set("via", via ? `${via}, 1.1 ${options.popName}` : `1.1 ${options.popName}`);
  headers.set("cache-status", appendCacheStatus(source.get("cache-status"), options.cacheStatus));
  return headers;
}

export function deliver(request: Request, rep: Representation, options: DeliverOptions): Response {
  const headers = finalHeaders(rep.headers, options);
  const isHead = request.method === "HEAD";
  const respond = (status: number, body: Representation["body"], h: Headers) => {
    if (isHead || status === 204 || status === 304) {
      void discard(body);
      body = null;
    }
    return new Response(body, { status, headers: h });
  };

  if (options.evaluateRequest && rep.status >= 200 && rep.status < 300) {
    const precondition = evaluatePreconditions(request.method, request.headers, rep.headers);
    if (precondition === "not-modified") {
      const h = new Headers();
      for (const name of [...NOT_MODIFIED_FIELDS, "age", "cache-status", "via"]) {
        const v = headers.get(name);
        if (v !== null) h.set(name, v);
      }
      void discard(rep.body);
      return respond(304, null, h);
    }
    if (precondition === "precondition-failed") {
      void discard(rep.body);
      const h = new Headers({ "content-type": "application/json", "cache-status": headers.get("cache-status") ?? "" });
      return respond(412, new TextEncoder().encode('{"error":"precondition failed"}'), h);
    }
    const rangeHeader = request.headers.get("range");
    if (rep.status === 200 && rangeHeader !== null && rep.size !== undefined && ifRangeAllowsPartial(request.headers.get("if-range"), rep.headers)) {
      const range = resolveRange(rangeHeader, rep.size);
      if (range.kind === "partial") {
        headers.set("content-range", `bytes ${range.start}-${range.end}/${rep.size}`);
        return respond(206, withKnownLength(sliceBody(rep.body, range.start, range.end), range.end - range.start + 1), headers);
      }
      if (range.kind === "unsatisfiable") {
        void discard(rep.body);
        headers.set("content-range", `bytes */${rep.size}`);
        headers.delete("content-length");
        return respond(416, null, headers);
      }
    }
    if (rep.status === 200) headers.set("accept-ranges", "bytes");
  }
  return respond(rep.status, withKnownLength(rep.body, rep.size), headers);
}
