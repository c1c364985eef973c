/**
 * What a stored entry knows about itself. Both tiers keep the same record:
 * the in-isolate tier as an object, the Cache API tier in one header of the
 * stored response (the Cache API keeps custom headers, and its own expiry
 * must outlive freshness so that stale entries can still be revalidated).
 */

export interface EntryMeta {
  v: 1;
  /** Primary key of the object (without the variant part). */
  key: string;
  status: number;
  /** Response headers as the client should see them, minus hop-by-hop fields. */
  headers: [string, string][];
  /** When the request that produced this response was sent, ms since the epoch. */
  requestTime: number;
  /** When its response arrived, ms since the epoch. */
  responseTime: number;
  /** corrected_initial_age (RFC 9111 §4.2.3), seconds. */
  initialAge: number;
  /** Freshness lifetime, seconds. */
  freshness: number;
  staleWhileRevalidate: number;
  staleIfError: number;
  /** Must be revalidated whenever stale (must-revalidate / proxy-revalidate): no stale serving at all. */
  mustRevalidate: boolean;
  /**
   * s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10), but explicit
   * stale-while-revalidate / stale-if-error still apply "regardless of other
   * freshness information" (RFC 5861): stale only within the response's own windows.
   */
  impliedRevalidate?: boolean;
  /** Must be revalidated before every reuse (no-cache). */
  noCache: boolean;
  /** no-cache="f": these fields are sent only with a response the origin has just validated (§5.2.2.4). */
  noCacheFields?: string[];
  tags: string[];
  /** Body bytes; UNKNOWN_SIZE while a streamed body without Content-Length is being stored. */
  size: number;
  originId: string;
  /** Names the stored body; kept when a 304 freshens the entry, so encoded variants stay valid. */
  bodyId?: string;
}

/** Stored at a primary key when the response varies: which fields select the variant. */
export interface VaryManifest {
  v: 1;
  vary: string[];
  /**
   * When this manifest began, ms since the epoch. Variants stored before it
   * belong to an invalidated object and are ignored (the Cache API cannot list
   * and delete them).
   */
  since: number;
}

export type StoredRecord = { kind: "entry"; meta: EntryMeta } | { kind: "vary"; manifest: VaryManifest };

export const META_HEADER = "x-outpost-meta";

/** The size of a body not yet seen whole. */
export const UNKNOWN_SIZE = -1;

/** The body's size when known. */
export function knownSize(meta: EntryMeta): number | undefined {
  return meta.size >= 0 ? meta.size : undefined;
}

export function encodeRecord(record: StoredRecord): string {
  return encodeURIComponent(JSON.stringify(record.kind === "entry" ? record.meta : record.manifest));
}

function isEntryMeta(value: Record<string, unknown>): boolean {
  return (
    typeof value.key === "string" &&
    typeof value.status === "number" &&
    Array.isArray(value.headers) &&
    typeof value.responseTime === "number" &&
    typeof value.freshness === "number" &&
    typeof value.size === "number"
  );
}

/** Decodes a stored record; a corrupt one is undefined, so that it reads as a miss, never as a wrong body. */
export function decodeRecord(value: string | null): StoredRecord | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(decodeURIComponent(value)) as Record<string, unknown>;
    if (parsed.v !== 1) return undefined;
    if (Array.isArray(parsed.vary)) return { kind: "vary", manifest: parsed as unknown as VaryManifest };
    if (isEntryMeta(parsed)) return { kind: "entry", meta: parsed as unknown as EntryMeta };
  } catch {
    return undefined;
  }
  return undefined;
}

/** Seconds this entry stays usable at all: fresh, then the longest stale window, then the retention for revalidation. */
export function retentionSeconds(meta: EntryMeta, staleRetention: number, maxRetention = 7 * 86400): number {
  const staleWindow = Math.max(meta.staleWhileRevalidate, meta.staleIfError, staleRetention);
  return Math.min(maxRetention, Math.max(1, Math.ceil(meta.freshness - meta.initialAge + staleWindow)));
}
