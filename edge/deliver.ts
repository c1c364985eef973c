/**
 * deliver: the last state. Turns a representation (stored or just fetched)
 * into the client's response: preconditions (304/412), Range (206/416), HEAD,
 * Age, Via and Cache-Status, and the fields only Outpost may see removed.
 */
import { appendCacheStatus, type CacheStatusEntry } from "./http/cache-status";
import { cacheResultOf } from "./metrics/cache-result";
import { evaluatePreconditions, NOT_MODIFIED_FIELDS } from "./http/conditional";
import { HOP_BY_HOP, headersFrom, isInternalField } from "./http/headers";
import { ifRangeAllowsPartial, resolveRange } from "./http/range";
import { rangeOf } from "./ranged-body";
import { FIELDS_REMOVED_BEFORE_CLIENT } from "./http/targeted";
import { sendByRuntime } from "./framed-body";

export type HeaderPairs = [string, string][];

export interface Representation {
  status: number;
  /** Response fields; pairs (lower-case names) avoid a Headers copy on the hit path. */
  headers: Headers | HeaderPairs;
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** Body length when known. */
  size: number | undefined;
}

/** When this request began and how long its trips forward took, ms. */
export interface Timing {
  startedAt: number;
  /** Time to the origin's (or the shield's) response headers, summed over trips. */
  originMs?: number;
}

export interface DeliverOptions {
  popName: string;
  cacheStatus: CacheStatusEntry;
  /** Age to send, seconds; undefined leaves the upstream Age as it came. */
  age?: number;
  /** Keep Cache-Tag / Surrogate-Key for debugging. */
  debug: boolean;
  /** The answer goes to another Outpost tier (a shield answering a POP): it keeps the fields purges need. */
  toTier?: boolean;
  /** Answer preconditions and Range here (true for anything that came through the cache). */
  evaluateRequest: boolean;
  /** The body is already encoded (Content-Encoding): the runtime must send it as it is. */
  encoded?: boolean;
  /** For Server-Timing. */
  timing?: Timing;
  /** Told the body bytes sent: at once when their number is known, else when the body has passed. */
  onBodyBytes?: (bytes: number) => void;
}

/**
 * Server-Timing (W3C): the cache's verdict, the trip forward, the total, so
 * that a browser's developer tools show where the time went. (workerd's clock
 * advances only across I/O: a hit's own work reads as 0 ms.)
 */
function serverTiming(status: CacheStatusEntry, originMs: number | undefined, totalMs: number | undefined): string {
  const parts = [`cache;desc="${cacheResultOf(status)}"`];
  if (originMs !== undefined) parts.push(`origin;dur=${originMs}`);
  if (totalMs !== undefined) parts.push(`total;dur=${totalMs}`);
  return parts.join(", ");
}

/**
 * Fields for the CDN alone: tags and keys purges need, the cache-control
 * fields that target Outpost, and X-Accel-Buffering (the origin's ask to
 * stream at once, which the POP must see as the shield did; nginx hides it
 * from clients too). A lower tier needs them as much as the shield did (its
 * freshness must come from the same field); a client never gets them.
 */
const INTERNAL_FIELDS = new Set<string>(["cache-tag", "surrogate-key", "x-accel-buffering", ...FIELDS_REMOVED_BEFORE_CLIENT]);
/** What debug lets a client see of them: the tags and keys, not the targeted directives. */
const SHOWN_WITH_DEBUG = new Set(["cache-tag", "surrogate-key"]);

/**
 * Never sent on: hop-by-hop fields, the length (the runtime frames the body
 * itself; a stale one, say of bytes it decoded, would corrupt it), and the
 * fields each tier sets itself.
 */
const DROPPED = new Set<string>([...HOP_BY_HOP, "content-length", "via", "cache-status", "server-timing"]);

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
  return rangeOf(body, start, end, sliceStream);
}

/** A stream of known size goes out with Content-Length rather than chunked; by the runtime's own stream when it can (sendByRuntime). */
function withKnownLength(body: Representation["body"], size: number | undefined): Representation["body"] {
  if (body === null || body instanceof Uint8Array || size === undefined) return body;
  if (typeof FixedLengthStream === "undefined") return body;
  return sendByRuntime(body, size) ?? body.pipeThrough(new FixedLengthStream(size));
}

/** Reports a body's size: known ones at once, streams of unknown length as they end. */
function metered(body: Representation["body"], length: number | undefined, onBodyBytes: (bytes: number) => void): Representation["body"] {
  if (body === null) onBodyBytes(0);
  else if (body instanceof Uint8Array) onBodyBytes(body.byteLength);
  else if (length !== undefined) onBodyBytes(length);
  else {
    // Sent chunked by the runtime's own stream, which counts what passes (sendByRuntime).
    const carried = sendByRuntime(body, undefined, onBodyBytes);
    if (carried) return carried;
    let total = 0;
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          total += chunk.byteLength;
          controller.enqueue(chunk);
        },
        flush: () => onBodyBytes(total),
      }),
    );
  }
  return body;
}

async function discard(body: Representation["body"]): Promise<void> {
  if (body && !(body instanceof Uint8Array)) await body.cancel().catch(() => undefined);
}

/** A representation's fields as every answer of it shares them. */
interface PreparedFields {
  base: Headers;
  via: string | undefined;
  upstreamStatus: string | undefined;
  hasAcceptRanges: boolean;
  /** The last answer's fields, with what made them: the next hit in the same second usually matches. */
  lastAnswer?: AnswerFields;
}

/** What the fields that differ between answers of one representation are made from. */
interface AnswerInputs {
  age: number | undefined;
  popName: string;
  cacheStatus: CacheStatusEntry;
  originMs: number | undefined;
  totalMs: number | undefined;
  acceptRanges: boolean;
}

const CACHE_STATUS_PARTS = ["cache", "hit", "fwd", "fwdStatus", "stored", "collapsed", "key", "detail", "upstream"] as const;

/** Compared before anything is serialized: most hits within a second have the same inputs as the last. */
function sameInputs(a: AnswerInputs, b: AnswerInputs): boolean {
  if (a.age !== b.age || a.popName !== b.popName || a.originMs !== b.originMs || a.totalMs !== b.totalMs || a.acceptRanges !== b.acceptRanges) return false;
  for (const part of CACHE_STATUS_PARTS) if (a.cacheStatus[part] !== b.cacheStatus[part]) return false;
  const ttlA = a.cacheStatus.ttl;
  const ttlB = b.cacheStatus.ttl;
  return ttlA === undefined || ttlB === undefined ? ttlA === ttlB : Math.trunc(ttlA) === Math.trunc(ttlB);
}

/** The last answer's fields and what made them. */
interface AnswerFields {
  inputs: AnswerInputs;
  headers: Headers;
}

function prepareFields(source: Headers | HeaderPairs, options: DeliverOptions): PreparedFields {
  const pairs = Array.isArray(source) ? source : [...source];
  let connectionNamed: Set<string> | undefined;
  let via: string | undefined;
  let upstreamStatus: string | undefined;
  for (const [name, value] of pairs) {
    if (name === "connection") connectionNamed = new Set(value.split(",").map((v) => v.trim().toLowerCase()));
    else if (name === "via") via = via ? `${via}, ${value}` : value;
    else if (name === "cache-status") upstreamStatus = upstreamStatus ? `${upstreamStatus}, ${value}` : value;
  }
  const base: HeaderPairs = [];
  let hasAcceptRanges = false;
  for (const pair of pairs) {
    const name = pair[0];
    if (DROPPED.has(name) || connectionNamed?.has(name) || isInternalField(name)) continue;
    if (!options.toTier && INTERNAL_FIELDS.has(name) && !(options.debug && SHOWN_WITH_DEBUG.has(name))) continue;
    if (name === "age" && options.age !== undefined) continue;
    if (name === "accept-ranges") hasAcceptRanges = true;
    base.push(pair);
  }
  return { base: headersFrom(base), via, upstreamStatus, hasAcceptRanges };
}

/**
 * A stored entry's field list is the same array on every hit: its fields are
 * filtered into a Headers once per entry and way of answering, and the answer's
 * own few fields are set on a copy only when they changed since the last
 * answer. Every field set from script costs the runtime microseconds (parsing
 * and checking name and value), copying a whole Headers almost nothing, and
 * handing the same Headers to a Response nothing more (the Response copies it).
 */
const preparedByEntry = new WeakMap<HeaderPairs, PreparedFields[]>();

function preparedFor(source: Headers | HeaderPairs, options: DeliverOptions): PreparedFields {
  if (!Array.isArray(source)) return prepareFields(source, options);
  const way = (options.debug ? 1 : 0) | (options.toTier ? 2 : 0) | (options.age !== undefined ? 4 : 0);
  let ways = preparedByEntry.get(source);
  if (!ways) preparedByEntry.set(source, (ways = []));
  return (ways[way] ??= prepareFields(source, options));
}

/**
 * The client's fields: the entry's shared ones, then this answer's own. The
 * Headers returned may be handed to later answers too: never change it; copy it.
 */
function finalHeaders(source: Headers | HeaderPairs, options: DeliverOptions, acceptRanges: boolean): Headers {
  const prepared = preparedFor(source, options);
  const inputs: AnswerInputs = {
    age: options.age !== undefined ? Math.max(0, Math.floor(options.age)) : undefined,
    popName: options.popName,
    cacheStatus: options.cacheStatus,
    originMs: options.timing?.originMs,
    totalMs: options.timing ? Math.max(0, Date.now() - options.timing.startedAt) : undefined,
    acceptRanges,
  };
  const last = prepared.lastAnswer;
  if (last && sameInputs(last.inputs, inputs)) return last.headers;
  const headers = new Headers(prepared.base);
  if (acceptRanges && !prepared.hasAcceptRanges) headers.set("accept-ranges", "bytes");
  if (inputs.age !== undefined) headers.set("age", String(inputs.age));
  headers.set("via", prepared.via ? `${prepared.via}, 1.1 ${options.popName}` : `1.1 ${options.popName}`);
  headers.set("cache-status", appendCacheStatus(prepared.upstreamStatus ?? options.cacheStatus.upstream ?? null, options.cacheStatus));
  if (!options.toTier) headers.set("server-timing", serverTiming(options.cacheStatus, inputs.originMs, inputs.totalMs));
  // A copy of the status: the caller's object may change after this answer (debug adds the key).
  prepared.lastAnswer = { inputs: { ...inputs, cacheStatus: { ...options.cacheStatus } }, headers };
  return headers;
}

/** What a client's 304 carries: the fields RFC 9110 §15.4.5 lists, and the answer's own. */
const NOT_MODIFIED_ANSWER_FIELDS = [...NOT_MODIFIED_FIELDS, "age", "cache-status", "via"];

function fieldsNamed(headers: Headers, names: readonly string[]): Headers {
  const picked = new Headers();
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) picked.set(name, value);
  }
  return picked;
}

/** Whether the request carries a field that asks deliver for more than the plain representation. */
function asksForEvaluation(request: Request): boolean {
  const fields = request.headers;
  return fields.has("if-none-match") || fields.has("if-modified-since") || fields.has("range") || fields.has("if-match") || fields.has("if-unmodified-since");
}

export function deliver(request: Request, rep: Representation, options: DeliverOptions): Response {
  // Ranges are served from what passed through the cache, so say so (RFC 9110 §14.3).
  const headers = finalHeaders(rep.headers, options, options.evaluateRequest && rep.status === 200 && rep.size !== undefined);
  const isHead = request.method === "HEAD";
  const respond = (status: number, body: Representation["body"], h: Headers, length?: number) => {
    if (isHead || status === 204 || status === 304) {
      void discard(body);
      body = null;
      // A HEAD answer says how long the GET's body would be (RFC 9110 §8.6); the runtime frames only bodies it sends.
      if (isHead && length !== undefined && status !== 204 && status !== 304) {
        h = new Headers(h);
        h.set("content-length", String(length));
      }
    }
    if (options.onBodyBytes) body = metered(body, length, options.onBodyBytes);
    return new Response(body, { status, headers: h, ...(options.encoded ? { encodeBody: "manual" as const } : {}) });
  };

  if (options.evaluateRequest && rep.status >= 200 && rep.status < 300 && asksForEvaluation(request)) {
    const stored = Array.isArray(rep.headers) ? headersFrom(rep.headers) : rep.headers;
    const precondition = evaluatePreconditions(request.method, request.headers, stored);
    if (precondition === "not-modified") {
      // To a lower tier a 304 is a cache update (RFC 9110 §15.4.5 allows metadata "for the purpose
      // of guiding cache updates"): every stored field goes, so that what the origin's own 304
      // changed here reaches the POP's copy too (RFC 9111 §4.3.4). A client gets the listed few.
      const h = options.toTier ? new Headers(headers) : fieldsNamed(headers, NOT_MODIFIED_ANSWER_FIELDS);
      void discard(rep.body);
      return respond(304, null, h);
    }
    if (precondition === "precondition-failed") {
      void discard(rep.body);
      const h = new Headers({ "content-type": "application/json", "cache-status": headers.get("cache-status") ?? "" });
      return respond(412, new TextEncoder().encode('{"error":"precondition failed"}'), h);
    }
    const rangeHeader = request.headers.get("range");
    if (rep.status === 200 && rangeHeader !== null && rep.size !== undefined && ifRangeAllowsPartial(request.headers.get("if-range"), stored)) {
      const range = resolveRange(rangeHeader, rep.size);
      if (range.kind === "partial") {
        const partial = new Headers(headers);
        partial.set("content-range", `bytes ${range.start}-${range.end}/${rep.size}`);
        return respond(206, withKnownLength(sliceBody(rep.body, range.start, range.end), range.end - range.start + 1), partial, range.end - range.start + 1);
      }
      if (range.kind === "unsatisfiable") {
        void discard(rep.body);
        const unsatisfiable = new Headers(headers);
        unsatisfiable.set("content-range", `bytes */${rep.size}`);
        unsatisfiable.delete("content-length");
        return respond(416, null, unsatisfiable);
      }
    }
  }
  return respond(rep.status, withKnownLength(rep.body, rep.size), headers, rep.size);
}
