/**
 * store: keep what may be kept, in the tiers it fits, and answer the client
 * who asked. The one storability decision (RFC 9111 §3) for fills,
 * revalidations and 304 updates alike; bodies read within the request's
 * deadline; a miss answered as its body arrives (streamedFill); large bodies
 * stored as they stream, paced by their client, or, where the store can be read
 * as it is written (a shard's), stored at the origin's pace and read back by
 * every client of the fill (followedFill).
 */
import { variantKey, varyFields } from "../../common/cache-key";
import { declaredLength, OriginBodyError, type ReadBody, readBounded, type StreamAfter, teeInStep } from "../body";
import { UNKNOWN_SIZE, type EntryMeta, type VaryManifest } from "../cache/entry";
import { variantInRequest } from "../compress/variants";
import type { CacheStatusEntry } from "../http/cache-status";
import { sendAndStoreByRuntime, sendByRuntime, type SentAndStored } from "../framed-body";
import { splitFill } from "../split-fill";
import { buildEntryMeta } from "../cache/record";
import type { FollowedBody } from "../cache/store";
import { decodable, decodeStream, limitDecoded, originCoding } from "../compress/decode";
import type { Representation } from "../deliver";
import type { ForwardResult } from "../forward";
import type { ForwardReason } from "../http/cache-status";
import { storeDecision, type StoreDecision } from "../http/storable";
import { governingDirectives } from "../http/targeted";
import type { CacheDirectives } from "../http/cache-control";
import type { FillOutcome } from "../pop";
import { budgetLeft, type Transaction } from "../transaction";
import { deliverStored, deliverTo } from "./deliver-stored";
import { waitAtMost } from "../wait";
import { cacheStatusOf, done, type Step } from "./steps";

/** May the response with these fields be stored for everyone (RFC 9111 §3)? The one judgement for fills and updates alike. */
export function judgeForStoring(tx: Transaction, status: number, headers: Headers, directives = governingDirectives(headers).directives): StoreDecision {
  return storeDecision({
    method: "GET",
    status,
    requestHeaders: tx.request.headers,
    requestDirectives: tx.requestDirectives,
    responseHeaders: headers,
    responseDirectives: directives,
  });
}

export interface StoreOptions {
  /** The vary manifest the lookup passed: kept when the response varies on the same fields. */
  manifest?: VaryManifest;
  /** Tells requests collapsed onto this fill what it brought. */
  settle?: (outcome: FillOutcome) => void;
  /**
   * A miss, which answers its client as the body arrives (see STREAM_AFTER_BYTES) rather than
   * once it has come whole. A revalidation does not: a stored copy stands behind it, which a body
   * failing half-way must still be able to fall back on.
   */
  stream?: boolean;
  /** Keeps the requests collapsed onto this fill waiting until its streamed body has come whole. */
  hold?: (until: Promise<unknown>) => void;
}

/**
 * A streamed miss answers once this much of the body has come (or all of it, if less), or
 * sooner by streamAfterMsOf. A body that stalls or breaks off before then is retried elsewhere
 * or answered with a clean 5xx, as any failure before the first byte; one that fails later cuts
 * the client's connection off (its length or chunked framing tells it the body is incomplete)
 * and nothing is stored, as in Varnish's and Fastly's streaming misses. Origins that die mid-answer mostly do so at once.
 * 16 KiB (one socket read of most origins; nginx answers after its first 4-8 KiB buffer): at
 * 64 KiB a cold miss through both tiers waited 1-3 ms longer for its first byte (npm run bench).
 */
export const STREAM_AFTER_BYTES = 16 * 1024;

/**
 * How long a streamed miss's first bytes wait for the rest of STREAM_AFTER_BYTES: no longer than
 * `cache.streamAfterMs` when it is set, not at all when the origin asked for its answer to go out
 * unbuffered (X-Accel-Buffering: no, as nginx honours it: event streams, streamed pages).
 */
export function streamAfterMsOf(headers: Headers, configured: number | undefined): number {
  if (headers.get("x-accel-buffering")?.trim().toLowerCase() === "no") return 0;
  return configured ?? Infinity;
}

/**
 * Stores an origin's (or the shield's) answer if it may be, and answers this
 * client with it. A stalled or broken body throws before the client has a
 * byte (OriginBodyError, DecodeLimitError): the caller decides (stale, retry, 5xx).
 */
export async function store(tx: Transaction, result: Extract<ForwardResult, { ok: true }>, reason: ForwardReason, options: StoreOptions = {}): Promise<Step> {
  const response = result.response;
  const cacheConfig = tx.pop.config.cache;
  const rep = originRepresentation(tx, response);
  const status = cacheStatusOf(tx, { fwd: reason, fwdStatus: response.status, detail: result.shieldBypass, upstream: response.headers.get("cache-status") ?? undefined });
  const originHeaders = rep.headers;
  const { directives } = governingDirectives(originHeaders);
  const decision = judgeForStoring(tx, response.status, originHeaders, directives);
  const tooLarge = rep.length !== undefined && rep.length > cacheConfig.maxObjectBytes;
  const passOn = (body: Representation["body"], size: number | undefined) =>
    done(deliverTo(tx, { status: response.status, headers: originHeaders, body, size }, { cacheStatus: status, evaluateRequest: true, encoded: rep.opaque }));
  // Remembered, so that a range of it is passed to the origin alone from now on (range-pass.ts).
  if (tooLarge) tx.pop.tooLarge.remember(tx.primaryKey);
  if (!decision.store || tooLarge) {
    if (tx.pop.config.debug) status.detail = tooLarge ? "too-large" : decision.store ? result.shieldBypass : `not-stored:${decision.reason}`;
    return passOn(rep.body, rep.length);
  }
  // Origins are always asked for identity, so their Vary: Accept-Encoding selects nothing here;
  // our own encoded variants take its place.
  const keyFields = varyFields(originHeaders.get("vary")).filter((f) => f !== "accept-encoding");
  const key = keyFields.length > 0 ? variantKey(tx.primaryKey, keyFields, tx.request.headers, cacheConfig.vary) : tx.primaryKey;
  // A client that gets a variant made in the request waits for the whole body it is made from; one
  // whose body we decode (an origin that ignored our identity) waits for it too, so that a
  // decompression bomb ends in a clean 502, not a cut connection.
  const streams = options.stream === true && !rep.decoded && !variantInRequest(tx, [...originHeaders], response.status, rep.length);
  const startAfter = streams ? { bytes: STREAM_AFTER_BYTES, ms: streamAfterMsOf(originHeaders, cacheConfig.streamAfterMs) } : undefined;
  // Fields a qualified private="f" keeps from the store are still this client's: the origin answered it.
  const ownFields = privateFieldsOf(originHeaders, directives);
  const { body: originBody, length } = rep;
  // Not for a body to be sent at its very first bytes (streamAfterMsOf): a store's row waits for
  // 16 KiB, or 50 ms. Such a body goes to its client and its store in step, below.
  if (startAfter?.ms === Infinity && originBody && length !== undefined && length > cacheConfig.memoryEntryMaxBytes) {
    const now = Date.now();
    const meta = entryMetaOf(tx, result, originHeaders, length);
    // The runtime's own stream of the body when it has one, which the store reads straight into
    // its rows; the guarded stream would hand it over in JavaScript, a chunk at a time.
    const kept = tx.pop.tiers.keepFollowed(key, meta, () => sendByRuntime(originBody, length) ?? originBody, now);
    if (kept) {
      noteStored(tx, { meta, keyFields, manifest: options.manifest, now }, status);
      return done(withOwnFields(await followedFill(tx, { key, meta, ...kept }, status, rep, options), ownFields));
    }
  }
  const body = (await sentAndStoredInStep(tx, rep, startAfter)) ?? (await readBounded(rep.body, cacheConfig.memoryEntryMaxBytes, tx.deadline, startAfter));
  if (body.kind === "complete" && body.bytes.byteLength > cacheConfig.maxObjectBytes) return passOn(body.bytes, body.bytes.byteLength);
  const now = Date.now();
  // A streamed body without Content-Length has its size recorded once it has passed whole (keepStreamed).
  const meta = entryMetaOf(tx, result, originHeaders, body.kind === "complete" ? body.bytes.byteLength : (rep.length ?? UNKNOWN_SIZE));
  noteStored(tx, { meta, keyFields, manifest: options.manifest, now }, status);
  return done(withOwnFields(keptAndAnswered(tx, { key, meta, body, now }, status, rep, { ...options, stream: streams }), ownFields));
}

/** The entry a fill stores: its answer's fields and times, and its body's size. */
function entryMetaOf(tx: Transaction, result: Extract<ForwardResult, { ok: true }>, headers: Headers, size: number): EntryMeta {
  const { response, requestTime, responseTime, originId } = result;
  return buildEntryMeta({ key: tx.primaryKey, status: response.status, headers, requestTime, responseTime, size, originId });
}

/** A fill that is stored: told to Cache-Status and the counters, and its vary manifest recorded. */
function noteStored(tx: Transaction, fill: { meta: EntryMeta; keyFields: string[]; manifest?: VaryManifest; now: number }, status: CacheStatusEntry): void {
  status.stored = true;
  status.ttl = fill.meta.freshness - Math.floor(fill.meta.initialAge);
  tx.pop.counters.stored++;
  if (fill.keyFields.length > 0) tx.pop.tiers.recordVary(tx.primaryKey, fill.keyFields, fill.manifest, fill.now, (p) => tx.ctx.waitUntil(p));
}

/**
 * A large miss where the store can be read as it is written (a shard's SQLite rows): the body is
 * stored at its origin's pace, and this client and every request collapsed onto the fill read it
 * back as it lands, as Varnish streams a busy object: one origin fetch however many ask, none
 * paced by another's connection, a row per reader in memory. The client is answered once the
 * first bytes are stored, so a body that fails before then is retried, as before any first byte.
 */
async function followedFill(
  tx: Transaction,
  fill: { key: string; meta: EntryMeta; kept: Promise<boolean>; read: FollowedBody },
  status: CacheStatusEntry,
  rep: OriginRepresentation,
  options: StoreOptions,
): Promise<Response> {
  const { key, meta, kept, read } = fill;
  tx.ctx.waitUntil(kept);
  options.hold?.(kept);
  options.settle?.({ kind: "following", variantKey: key, meta });
  const failed = await untilStarted(read, budgetLeft(tx));
  if (failed) throw failed;
  return sentAsItComes(tx, meta, rep, status, read.body);
}

/**
 * Waits, at most `waitMs`, for a followed body's first bytes to be stored: undefined once they
 * are; else why not (the put failed, or the wait ran out), its body let go. The fill's own client
 * and the requests collapsed onto it are answered only after this.
 */
export async function untilStarted(read: FollowedBody, waitMs: number): Promise<Error | undefined> {
  const failed = await waitAtMost(
    read.started.then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    ),
    waitMs,
    new OriginBodyError("stalled", "origin body stalled: the request's deadline came first"),
  );
  if (failed) void read.body.cancel().catch(() => undefined);
  return failed;
}

/** A fill's body: read (whole, or its start and a stream of it all), or its client's and its store's streams at once. */
type FillBody = ReadBody | ({ kind: "in-step" } & SentAndStored);

/**
 * A streamed miss known to be too large for memory goes to its client and its store in the
 * runtime's streams (in-step-pump.ts), never read chunk by chunk in JavaScript; undefined when
 * it is not one, or its body cannot (then it is read). Throws as readBounded does, before a byte.
 */
async function sentAndStoredInStep(tx: Transaction, rep: OriginRepresentation, startAfter: StreamAfter | undefined): Promise<FillBody | undefined> {
  const cacheConfig = tx.pop.config.cache;
  if (!startAfter || !rep.body || rep.length === undefined || rep.length <= cacheConfig.memoryEntryMaxBytes) return undefined;
  const options = { length: rep.length, firstBytes: startAfter, deadline: tx.deadline, storeIdleMs: cacheConfig.storeIdleTimeoutMs };
  const both = sendAndStoreByRuntime(rep.body, options);
  return both && { kind: "in-step", ...(await both) };
}

/** What is stored, kept in the tiers (the whole body at once, a stream as it passes) and sent to this client. */
function keptAndAnswered(
  tx: Transaction,
  fill: { key: string; meta: EntryMeta; body: FillBody; now: number },
  status: CacheStatusEntry,
  rep: OriginRepresentation,
  options: StoreOptions,
): Response | Promise<Response> {
  const { key, meta, body, now } = fill;
  if (body.kind === "in-step") {
    tx.ctx.waitUntil(tx.pop.tiers.keepStreamed(key, meta, body.store, now));
    return sentAsItComes(tx, meta, rep, status, body.client);
  }
  if (body.kind === "complete") {
    tx.ctx.waitUntil(tx.pop.tiers.keep(key, meta, body.bytes, now));
    options.settle?.({ kind: "shared", variantKey: key, meta, body: body.bytes });
    return deliverStored(tx, { key, meta, body: body.bytes, tier: "memory" }, status, meta.initialAge);
  }
  if (options.stream) return streamedFill(tx, { key, meta, stream: body.stream, now }, status, rep, options);
  // Large: one branch to the client, one into the second tier, neither held in memory; the
  // slower branch paces both, so a slow client slows the store rather than being buffered for.
  const [toClient, toStore] = teeInStep(body.stream, tx.pop.config.cache.storeIdleTimeoutMs);
  tx.ctx.waitUntil(tx.pop.tiers.keepStreamed(key, meta, toStore, now));
  const streamed: Representation = { status: meta.status, headers: meta.headers, body: toClient, size: rep.length };
  return deliverTo(tx, streamed, { cacheStatus: status, age: meta.initialAge, evaluateRequest: true, encoded: rep.opaque });
}

/**
 * A miss answered as its body arrives (splitFill): kept in the tiers, and shared with the
 * requests collapsed onto it, once it has come whole; kept as it streams when it is too large
 * for memory; not kept at all when it fails (forward's guard has counted that against the origin).
 */
function streamedFill(
  tx: Transaction,
  fill: { key: string; meta: EntryMeta; stream: ReadableStream<Uint8Array>; now: number },
  status: CacheStatusEntry,
  rep: OriginRepresentation,
  options: StoreOptions,
): Response {
  const { key, meta, now } = fill;
  const cacheConfig = tx.pop.config.cache;
  const split = splitFill(fill.stream, cacheConfig.memoryEntryMaxBytes, cacheConfig.storeIdleTimeoutMs);
  const landed = split.kept.then(
    async (kept) => {
      if (kept.kind === "stream") return tx.pop.tiers.keepStreamed(key, meta, kept.stream, now);
      if (kept.bytes.byteLength > cacheConfig.maxObjectBytes) return;
      const whole = { ...meta, size: kept.bytes.byteLength };
      // The second tier's copy is written once the client has the body: at the shard and the POP
      // alike, a 1 MiB put while it was sent made the answer 1.4x slower.
      tx.ctx.waitUntil(tx.pop.tiers.keep(key, whole, kept.bytes, now, secondTierWriteAfter(split.delivered)));
      options.settle?.({ kind: "shared", variantKey: key, meta: whole, body: kept.bytes });
    },
    () => undefined,
  );
  // Followers wait for a body they can share (one that ends within the memory bound); a larger
  // one frees them as it passes the bound, and they go forward themselves (a store that can be
  // followed has taken a large body of known length before this: followedFill).
  options.hold?.(split.kept.catch(() => undefined));
  tx.ctx.waitUntil(landed);
  return sentAsItComes(tx, meta, rep, status, split.toClient);
}

/** A streamed miss's answer, its body as it comes. */
function sentAsItComes(tx: Transaction, meta: EntryMeta, rep: OriginRepresentation, status: CacheStatusEntry, body: ReadableStream<Uint8Array>): Response {
  return deliverTo(
    tx,
    { status: meta.status, headers: meta.headers, body, size: rep.length },
    { cacheStatus: status, age: meta.initialAge, evaluateRequest: true, encoded: rep.opaque },
  );
}

/** The longest a whole body's second-tier write waits for its client to have it (a slow client's answer can take minutes). */
const DELIVERY_WAIT_MS = 1000;

/**
 * How long after the client's branch ended a whole body's second-tier write waits: the branch
 * ending means the runtime has taken the last chunk, not that the chunk has left. A shard's
 * SQLite write runs on the thread that still passes it on (on Cloudflare, too, a Durable Object's
 * output gate holds what it sends until a write is durable): a 1 MiB miss's last bytes left the
 * shard 7-9 ms after its first with the write at once, 4.2-4.4 with it 10 or 40 ms later (tcpdump
 * on loopback, 15 rounds, raw workerd). The memory tier has the body at once, so nothing waits.
 */
const SENT_DRAIN_MS = 20;

/** When a whole body's second-tier copy is written: once its client has it (at most DELIVERY_WAIT_MS), and SENT_DRAIN_MS later. */
export async function secondTierWriteAfter(delivered: Promise<void>, waitMs = DELIVERY_WAIT_MS, drainMs = SENT_DRAIN_MS): Promise<void> {
  await waitAtMost(delivered, waitMs, undefined);
  await new Promise<void>((resolve) => setTimeout(resolve, drainMs));
}

/** The fields of a response that its private="f" names (RFC 9111 §5.2.2.7), as the origin sent them. */
function privateFieldsOf(headers: Headers, directives: CacheDirectives): [string, string][] {
  if (!Array.isArray(directives.private)) return [];
  const names = directives.private;
  return [...headers].filter(([name]) => names.includes(name));
}

/** An answer with fields only its own client may see added back. */
export function withOwnFields(answer: Response | Promise<Response>, fields: readonly [string, string][]): Response | Promise<Response> {
  if (fields.length === 0) return answer;
  const add = (response: Response) => {
    for (const [name, value] of fields) response.headers.append(name, value);
    return response;
  };
  return answer instanceof Promise ? answer.then(add) : add(answer);
}

/** What the origin answered, as Outpost keeps it: identity bytes, behind the body guard. */
interface OriginRepresentation {
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** Content-Length, when the origin gave one we can trust. */
  length: number | undefined;
  /**
   * Still in a coding the origin applied that we cannot undo (neither the runtime's gzip/br nor
   * our deflate/zstd): stored and sent as the origin sent it, as caches must keep Content-Encoding.
   */
  opaque: boolean;
  /** Decoded on its way here (by us or the runtime's fetch), under the decoding limits. */
  decoded: boolean;
}

function originRepresentation(tx: Transaction, response: Response): OriginRepresentation {
  // Already guarded by forward (idle timeout, health accounting).
  let body = response.body;
  const encoding = response.headers.get("content-encoding");
  const coding = originCoding(encoding);
  // The runtime's fetch decodes gzip and br by itself: what we hold is already the identity body.
  const runtimeDecoded = encoding !== null && coding === undefined && encoding.trim().toLowerCase() !== "identity";
  if (coding !== undefined && !decodable(coding)) return { headers: response.headers, body, length: declaredLength(response.headers), opaque: true, decoded: false };
  if (!runtimeDecoded && coding === undefined) return { headers: response.headers, body, length: declaredLength(response.headers), opaque: false, decoded: false };
  const limits = { maxBytes: tx.pop.config.cache.maxObjectBytes, maxRatio: tx.pop.config.originFetch.maxDecodedRatio };
  const encodedLength = declaredLength(response.headers);
  const headers = new Headers(response.headers);
  headers.delete("content-encoding");
  headers.delete("content-length");
  // The runtime's decoding is bounded the same way: by what came out against what went in, when the origin said.
  if (runtimeDecoded && body) body = limitDecoded(body, encodedLength && encodedLength > 0 ? encodedLength : Infinity, limits);
  if (coding !== undefined && body) {
    body = decodeStream(coding, body, limits);
    // Not the bytes the origin's strong validator names any more (RFC 9110 §8.8.1).
    const etag = headers.get("etag");
    if (etag && !etag.startsWith("W/")) headers.set("etag", `W/${etag}`);
  }
  return { headers, body, length: undefined, opaque: false, decoded: true };
}
