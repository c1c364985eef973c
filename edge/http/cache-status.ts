/**
 * The Cache-Status response field (RFC 9211): one list member per cache,
 * appended after whatever caches nearer the origin wrote.
 */

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
}

function sfString(value: string): string {
  // Structured-field strings are printable ASCII; anything else is dropped rather than sent broken.
  const printable = value.replace(/[^\x20-\x7e]/g, "");
  return `"${printable.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function formatCacheStatus(entry: CacheStatusEntry): string {
  const params: string[] = [];
  if (entry.hit) params.push("hit");
  if (entry.fwd) params.push(`fwd=${entry.fwd}`);
  if (entry.fwdStatus !== undefined) params.push(`fwd-status=${entry.fwdStatus}`);
  if (entry.ttl !== undefined) params.push(`ttl=${Math.trunc(entry.ttl)}`);
  if (entry.stored) params.push("stored");
  if (entry.collapsed) params.push("collapsed");
  if (entry.key !== undefined) params.push(`key=${sfString(entry.key)}`);
  if (entry.detail !== undefined) params.push(`detail=${sfString(entry.detail)}`);
  return [entry.cache, ...params].join("; ");
}

/** Appends our member to an upstream Cache-Status value, if any. */
export function appendCacheStatus(upstream: string | null, entry: CacheStatusEntry): string {
  const ours = formatCacheStatus(entry);
  return upstream && upstream.trim() ? `${upstream}, ${ours}` : ours;
}
