/**
 * The folded catch-up: what is in force from the whole purge log, in one
 * bounded binary answer, for an isolate too far behind to page through the
 * rules (a new one after a deploy, or one back after a long silence).
 *
 * Each rule's names (common/purge-names.ts) are folded into time buckets as
 * fingerprints, a Rice-coded set per bucket and kind (hard, soft); a name in a
 * bucket counts as purged at the bucket's `to`, the newest rule folded into it
 * (never earlier than its own purge: an entry fetched between the two costs one
 * extra miss, never a purge missed). `purge_everything` is kept as two times.
 * The control plane (control/catch-up.ts) folds; the edge (PurgeRules) applies.
 *
 * Layout: a 4-byte big-endian length, the JSON header, then each bucket's hard
 * set and soft set, back to back, of the lengths the header names.
 */
import { z } from "zod";
import { decodeRiceSet, encodeRiceSet, type RiceSet } from "./rice-set";
import { FINGERPRINT_BITS } from "./purge-names";

const RiceSetSchema = z.object({ count: z.number().int().min(0), k: z.number().int().min(0).max(32), bytes: z.number().int().min(0) });

export const CatchUpHeaderSchema = z.object({
  format: z.literal(1),
  /** The purge epoch `upTo` belongs to. */
  epoch: z.string(),
  /** Every rule up to this sequence number is folded in (or older than any stored entry, and dropped). */
  upTo: z.number().int().min(0),
  /** The control plane's clock when it was folded. */
  generatedAt: z.number(),
  fingerprintBits: z.literal(FINGERPRINT_BITS),
  /** The latest `purge_everything`, hard and soft, ms since the epoch; 0 for none. */
  everything: z.object({ hard: z.number(), soft: z.number() }),
  buckets: z.array(z.object({ to: z.number(), hard: RiceSetSchema, soft: RiceSetSchema })),
});
export type CatchUpHeader = z.infer<typeof CatchUpHeaderSchema>;

/** One bucket as folded: its newest rule's time and its names' fingerprints. */
export interface FoldedBucket {
  to: number;
  hard: Iterable<number>;
  soft: Iterable<number>;
}

/** A bucket with its sets coded (a folder may keep buckets that do not change coded, and code them once). */
export interface CodedBucket {
  to: number;
  hard: RiceSet;
  soft: RiceSet;
}

export function codeBucket(bucket: FoldedBucket): CodedBucket {
  return { to: bucket.to, hard: encodeRiceSet(bucket.hard, FINGERPRINT_BITS), soft: encodeRiceSet(bucket.soft, FINGERPRINT_BITS) };
}

export interface DecodedCatchUp {
  header: CatchUpHeader;
  buckets: { to: number; hard: Uint32Array; soft: Uint32Array }[];
}

export function encodeCatchUp(meta: Pick<CatchUpHeader, "epoch" | "upTo" | "generatedAt" | "everything">, buckets: readonly CodedBucket[]): Uint8Array<ArrayBuffer> {
  const sets: Uint8Array[] = [];
  const headerBuckets = buckets.map(({ hard, soft, ...bucket }) => {
    sets.push(hard.bytes, soft.bytes);
    return { to: bucket.to, hard: { count: hard.count, k: hard.k, bytes: hard.bytes.length }, soft: { count: soft.count, k: soft.k, bytes: soft.bytes.length } };
  });
  const header: CatchUpHeader = { format: 1, ...meta, fingerprintBits: FINGERPRINT_BITS, buckets: headerBuckets };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + headerBytes.length + sets.reduce((sum, s) => sum + s.length, 0));
  new DataView(out.buffer).setUint32(0, headerBytes.length);
  out.set(headerBytes, 4);
  let at = 4 + headerBytes.length;
  for (const set of sets) {
    out.set(set, at);
    at += set.length;
  }
  return out;
}

/** The header, and where the sets begin; throws on anything malformed. */
function readHeader(bytes: Uint8Array): { header: CatchUpHeader; setsFrom: number } {
  if (bytes.length < 4) throw new RangeError("catch-up: too short");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (4 + headerLength > bytes.length) throw new RangeError("catch-up: header runs past the body");
  const header = CatchUpHeaderSchema.parse(JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength))));
  return { header, setsFrom: 4 + headerLength };
}

/** A catch-up's header alone (its sets left coded); throws on anything malformed. */
export function catchUpHeaderOf(bytes: Uint8Array): CatchUpHeader {
  return readHeader(bytes).header;
}

/** Reads a catch-up; throws on anything malformed (the isolate then keeps paging, or retries). */
export function decodeCatchUp(bytes: Uint8Array): DecodedCatchUp {
  const { header, setsFrom } = readHeader(bytes);
  let at = setsFrom;
  const take = (set: z.infer<typeof RiceSetSchema>): Uint32Array => {
    if (at + set.bytes > bytes.length) throw new RangeError("catch-up: a set runs past the body");
    const values = decodeRiceSet(bytes.subarray(at, at + set.bytes), set.count, set.k);
    at += set.bytes;
    return values;
  };
  const buckets = header.buckets.map((b) => ({ to: b.to, hard: take(b.hard), soft: take(b.soft) }));
  return { header, buckets };
}
