/**
 * Building and refreshing the metadata of a stored entry from origin
 * responses. Pure: times are parameters.
 */
import { secondsOf } from "../http/cache-control";
import { correctedInitialAge, freshnessLifetime } from "../http/freshness";
import { HOP_BY_HOP, headersFrom, isInternalField, NOT_STORED } from "../http/headers";
import { governingDirectives } from "../http/targeted";
import { responseTags } from "../../common/cache-tags";
import type { EntryMeta } from "./entry";

/**
 * Headers worth keeping with the entry: not per-hop or per-message fields, and
 * not the fields a qualified `private="f"` keeps from shared caches (§5.2.2.7).
 */
export function storedHeaders(headers: Headers, privateFields: readonly string[] = []): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of headers) if (!NOT_STORED.includes(name) && !isInternalField(name) && !privateFields.includes(name)) out.push([name, value]);
  return out;
}

export interface EntryInput {
  key: string;
  status: number;
  headers: Headers;
  requestTime: number;
  responseTime: number;
  size: number;
  originId: string;
  bodyId?: string;
}

export function buildEntryMeta(input: EntryInput): EntryMeta {
  const { directives } = governingDirectives(input.headers);
  const freshness = freshnessLifetime(input.status, input.headers, directives, input.responseTime);
  return {
    v: 1,
    key: input.key,
    status: input.status,
    headers: storedHeaders(input.headers, Array.isArray(directives.private) ? directives.private : []),
    requestTime: input.requestTime,
    responseTime: input.responseTime,
    initialAge: correctedInitialAge(input.headers, input.requestTime, input.responseTime),
    freshness: freshness.lifetime,
    staleWhileRevalidate: secondsOf(directives.staleWhileRevalidate) ?? 0,
    staleIfError: secondsOf(directives.staleIfError) ?? 0,
    mustRevalidate: directives.mustRevalidate || directives.proxyRevalidate,
    impliedRevalidate: directives.sMaxAge !== undefined,
    noCache: directives.noCache === true,
    ...(Array.isArray(directives.noCache) ? { noCacheFields: directives.noCache } : {}),
    tags: responseTags(input.headers),
    size: input.size,
    originId: input.originId,
    bodyId: input.bodyId ?? `${input.requestTime.toString(36)}-${input.size.toString(36)}`,
  };
}

/**
 * Fields of a 304 that must not overwrite the stored representation's own
 * (RFC 9111 §3.2): framing, and what describes the stored bytes themselves.
 * The 304 answers our conditional request for exactly this entry, so its
 * validator and digests cannot be newer than the bytes we keep.
 */
const NOT_UPDATED_BY_304 = new Set(["content-length", "content-encoding", "content-range", "transfer-encoding", "etag", "content-md5", "content-digest", "repr-digest"]);

/** Never taken from a 304 into the updated response: per-hop, per-message, or the tiers' own. */
const NOT_FROM_304 = new Set([...HOP_BY_HOP, ...NOT_UPDATED_BY_304, "age", "cache-status"]);

/**
 * The response a 304 makes of a stored one (RFC 9111 §4.3.4): the 304's
 * fields replace the stored ones. Every field, Set-Cookie and fields a
 * `private="f"` names included: this is what the origin now says, to be judged
 * for storing again (a 304 may make a shared response private) before any of
 * it is kept.
 */
export function updatedByNotModified(meta: EntryMeta, notModified: Headers): Headers {
  const merged = headersFrom(meta.headers);
  const replaced = new Set<string>();
  for (const [name, value] of notModified) {
    if (NOT_FROM_304.has(name) || isInternalField(name)) continue;
    // Repeated fields arrive one by one (Set-Cookie): the first replaces, the rest join it.
    if (replaced.has(name)) merged.append(name, value);
    else merged.set(name, value);
    replaced.add(name);
  }
  return merged;
}

/**
 * Freshens a stored entry with the response a 304 made of it (see
 * updatedByNotModified, and judge that first): freshness starts again from
 * the 304, and what may not be stored stays out.
 */
export function freshenWithNotModified(meta: EntryMeta, updated: Headers, requestTime: number, responseTime: number): EntryMeta {
  return buildEntryMeta({
    key: meta.key,
    status: meta.status,
    headers: updated,
    requestTime,
    responseTime,
    size: meta.size,
    originId: meta.originId,
    bodyId: meta.bodyId ?? String(meta.responseTime),
  });
}
