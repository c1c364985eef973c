/**
 * Which representation a client gets: the stored one, or an encoded variant
 * (compressed once per object and coding, then stored in both tiers), so
 * that hits do no compression work.
 */
import type { EntryMeta } from "../cache/entry";
import { internalKey } from "../../common/cache-key";
import type { Coding } from "../http/accept-encoding";
import { cancelBody, type Found } from "../cache/tiers";
import type { Transaction } from "../transaction";
import { backgroundLevels, encode, encodeStream } from "./codecs";
import { compressible, encodedHeaders } from "./policy";

export type EncodingChoice = { kind: "as-stored" } | { kind: "identity" } | { kind: "encoded"; coding: Coding; key: string };

/** The client's own Accept-Encoding: Cloudflare's front (and Miniflare) rewrite the header and keep the original in cf. */
export function clientAcceptEncoding(tx: Transaction): string | null {
  const original = (tx.cf as { clientAcceptEncoding?: unknown } | undefined)?.clientAcceptEncoding;
  if (typeof original === "string") return original === "" ? null : original;
  return tx.request.headers.get("accept-encoding");
}

/** What names a stored body in its variants' keys: a 304 that keeps the body keeps them. */
function bodyIdentity(meta: EntryMeta): string {
  return meta.bodyId ?? String(meta.responseTime);
}

/** Per stored entry, whether it is compressible: hits ask on every request. */
const compressibleMemo = new WeakMap<EntryMeta, boolean>();

export function chooseEncoding(tx: Transaction, found: Found): EncodingChoice {
  const config = tx.pop.config.compression;
  let worth = compressibleMemo.get(found.meta);
  if (worth === undefined) {
    worth = compressible(found.meta.headers, found.meta.status, found.meta.size, config);
    compressibleMemo.set(found.meta, worth);
  }
  if (!worth) return { kind: "as-stored" };
  const coding = tx.pop.negotiate(clientAcceptEncoding(tx));
  if (coding === "identity" || coding === "not-acceptable") return { kind: "identity" };
  return { kind: "encoded", coding, key: internalKey("encoded", [coding, bodyIdentity(found.meta)], found.key) };
}

/**
 * Whether a fill's client would get a variant made within the request, from the whole body
 * (compressible, small enough, a coding it accepts). A length not yet known counts as small.
 */
export function variantInRequest(tx: Transaction, headers: [string, string][], status: number, length: number | undefined): boolean {
  const config = tx.pop.config.compression;
  const size = length ?? config.minBytes;
  if (size > config.maxBytes || !compressible(headers, status, size, config)) return false;
  const coding = tx.pop.negotiate(clientAcceptEncoding(tx));
  return coding !== "identity" && coding !== "not-acceptable";
}

/** An encoded variant as a client gets it: its fields, its body (streamed when large) and its size. */
export interface EncodedVariant {
  headers: [string, string][];
  body: Uint8Array | ReadableStream<Uint8Array>;
  size: number;
}

/** Background compressions running in this isolate, by variant key: one per variant at a time. */
const compressing = new Set<string>();
const MAX_BACKGROUND_COMPRESSIONS = 4;

/**
 * An encoded variant: from the Cache API if another isolate made it, or made
 * here once (compressed from the stored body) and stored in both tiers, so
 * that hits do no compression work. A body past compression.maxBytes is
 * compressed in the background instead (undefined: identity this time).
 */
export async function encodedVariant(tx: Transaction, found: Found, coding: Coding, key: string): Promise<EncodedVariant | undefined> {
  const pop = tx.pop;
  const stored = await pop.store.get(key);
  if (stored?.record.kind === "entry" && stored.body) {
    void cancelBody(found.body);
    const size = stored.record.meta.size;
    if (!(stored.body instanceof Uint8Array) && size > pop.config.cache.memoryEntryMaxBytes) return { headers: stored.record.meta.headers, body: stored.body, size };
    const body = stored.body instanceof Uint8Array ? stored.body : new Uint8Array(await new Response(stored.body).arrayBuffer());
    pop.memory.set(key, { record: stored.record, body, storedAt: stored.storedAt }, pop.tiers.retention(found.meta));
    return { headers: stored.record.meta.headers, body, size: body.byteLength };
  }
  if (!(found.body instanceof Uint8Array) || found.meta.size > pop.config.compression.maxBytes) {
    compressInBackground(tx, found, coding, key);
    return undefined;
  }
  let body: Uint8Array;
  try {
    body = await encode(coding, found.body, pop.config.compression);
  } catch (err) {
    console.warn(`outpost: ${coding} failed for ${found.key}: ${(err as Error).message}`);
    return undefined;
  }
  pop.counters.compressions++;
  const headers = encodedHeaders(found.meta.headers, coding);
  tx.ctx.waitUntil(pop.tiers.keep(key, { ...found.meta, headers, size: body.byteLength }, body, Date.now()));
  // Made quickly for the client waiting; settled closer to the coding's floor once it has gone.
  if (found.body.byteLength > SETTLE_MIN_BYTES) compressInBackground(tx, found, coding, key, found.body);
  return { headers, body, size: body.byteLength };
}

/**
 * Variants of bodies past this size made in a request are made again behind it at the
 * background levels: below it the bytes saved are too few to pay for the work.
 */
const SETTLE_MIN_BYTES = 16 * 1024;

/**
 * A variant made after the answer, at the background levels (backgroundLevels), and stored like
 * any (the next client that accepts the coding gets it): a large body read again from the colo's
 * store and streamed through the encoder, or a small one's bytes at hand, whose quick variant this
 * replaces. At most a few at once per isolate, one per variant.
 */
function compressInBackground(tx: Transaction, found: Found, coding: Coding, key: string, bytes?: Uint8Array): void {
  if (compressing.has(key) || compressing.size >= MAX_BACKGROUND_COMPRESSIONS) return;
  compressing.add(key);
  const pop = tx.pop;
  const work = (async () => {
    const source = bytes ? (new Response(bytes).body as ReadableStream<Uint8Array>) : await storedBody(tx, found);
    if (!source) return;
    const body = await encodeStream(coding, source, backgroundLevels(pop.config.compression, found.meta.size), found.meta.size);
    pop.counters.compressions++;
    await pop.tiers.keep(key, { ...found.meta, headers: encodedHeaders(found.meta.headers, coding), size: body.byteLength }, body, Date.now());
  })()
    .catch((err) => console.warn(`outpost: background ${coding} failed for ${found.key}: ${(err as Error).message}`))
    .finally(() => compressing.delete(key));
  tx.ctx.waitUntil(work);
}

/** The stored body a variant is made from, read again from the colo's store; undefined when it is gone or newer. */
async function storedBody(tx: Transaction, found: Found): Promise<ReadableStream<Uint8Array> | undefined> {
  const entry = await tx.pop.store.get(found.key);
  if (entry?.record.kind !== "entry" || !entry.body) return undefined;
  // The variant's key names the body it comes from: a newer body stored meanwhile is not that one.
  if (bodyIdentity(entry.record.meta) !== bodyIdentity(found.meta)) return void cancelBody(entry.body);
  return entry.body instanceof Uint8Array ? (new Response(entry.body).body as ReadableStream<Uint8Array>) : entry.body;
}
