/**
 * The Cache-Status response field (RFC 9211): one list member per cache,
 * appended after whatever caches nearer the origin wrote. Serialized by
 * structured-headers, the same library that parses CDN-Cache-Control.
 */
import { serializeList, Token, type BareItem } from "structured-headers";

/** Why a request went forward to the origin (RFC 9211 §2.2). */
export type ForwardReason = "bypass" | "method" | "uri-miss" | "vary-miss" | "miss" | "request" | "stale" | "partial";

export interface CacheStatusEntry {
  /** The cache's name, e.g. "Outpost-FRA". */
  cache: string;
  hit?: boolean;
  fwd?: ForwardReason;
  fwdStatus?: number;
  /** Remaining freshness in seconds; negative when stale. */
  ttl?: number;
  stored?: boolean;
  collapsed?: boolean;
  key?: string;
  detail?: string;
  /** Members written by caches nearer the origin (a shield), sent before ours. */
  upstream?: string;
}

/** Structured-field strings are printable ASCII; anything else is dropped rather than sent broken. */
function printable(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, "");
}

/** Our member of the field: an RFC 9651 List member (a Token naming the cache, with parameters). */
export function formatCacheStatus(entry: CacheStatusEntry): string {
  const params = new Map<string, BareItem>();
  if (entry.hit) params.set("hit", true);
  if (entry.fwd) params.set("fwd", new Token(entry.fwd));
  if (entry.fwdStatus !== undefined) params.set("fwd-status", entry.fwdStatus);
  if (entry.ttl !== undefined) params.set("ttl", Math.trunc(entry.ttl));
  if (entry.stored) params.set("stored", true);
  if (entry.collapsed) params.set("collapsed", true);
  if (entry.key !== undefined) params.set("key", printable(entry.key));
  if (entry.detail !== undefined) params.set("detail", printable(entry.detail));
  return serializeList([[new Token(entry.cache), params]]);
}

/** Appends our member to an upstream Cache-Status value, if any. */
export function appendCacheStatus(upstream: string | null, entry: CacheStatusEntry): string {
  const ours = formatCacheStatus(entry);
  return upstream?.trim() ? `${upstream}, ${ours}` : ours;
}
