/**
 * recv: which site, and is this request for the cache at all? Builds the
 * transaction (key, directives, deadline) and names the first step: an entry
 * fresh in the isolate's memory goes to hitOrStale without a single await.
 */
import type { SiteConfig } from "../../common/config";
import { primaryKey } from "../../common/cache-key";
import { parseCacheControl, type CacheDirectives } from "../http/cache-control";
import { CACHEABLE_METHODS } from "../http/methods";
import type { Pop } from "../pop";
import type { Transaction } from "../transaction";
import { errorResponse } from "../errors";
import type { Step } from "./steps";

/**
 * The client's request directives as this site takes them. Unless the site
 * honors them, the ones that would force a trip to the origin (or keep a fill
 * from being stored for everyone) are set aside; only-if-cached and max-stale
 * never cost the origin anything and always count.
 */
function requestDirectivesFor(value: string | null, honored: boolean): CacheDirectives {
  const directives = parseCacheControl(value);
  if (honored || value === null) return directives;
  return { ...directives, noCache: false, maxAge: undefined, minFresh: undefined, noStore: false };
}

export interface Received {
  tx: Transaction;
  first: Step;
}

/** `deadline`: what a lower tier left of its budget (a shard's request), ms since the epoch. */
export function recv(pop: Pop, request: Request, url: URL, site: SiteConfig, ctx: ExecutionContext, cf: IncomingRequestCfProperties | undefined, deadline?: number): Received {
  const honored = site.honorRequestDirectives;
  const startedAt = Date.now();
  const cacheable = CACHEABLE_METHODS.has(request.method);
  const tx: Transaction = {
    pop,
    request,
    url,
    site,
    ctx,
    primaryKey: primaryKey(url, pop.config.cache.key),
    requestDirectives: requestDirectivesFor(request.headers.get("cache-control"), honored),
    pragmaNoCache: honored && /(^|,)\s*no-cache\s*(,|$)/i.test(request.headers.get("pragma") ?? ""),
    cf,
    timing: { startedAt },
    deadline: cacheable ? Math.min(deadline ?? Infinity, startedAt + pop.config.originFetch.deadlineMs) : Infinity,
  };
  if (!cacheable) return { tx, first: { to: "pass" } };
  const inMemory = pop.tiers.inMemory(tx.primaryKey, request.headers);
  return { tx, first: inMemory ? { to: "hitOrStale", found: inMemory.found, manifest: inMemory.manifest } : { to: "lookup" } };
}

/** A request the POP answers itself before any cache key exists, counted as an error. */
function refusedBeforeTheCache(pop: Pop, status: number, message: string, detail: string, fields: Record<string, string> = {}): Response {
  const response = errorResponse(status, message, { ...fields, popName: pop.name });
  response.headers.set("cache-status", `${pop.name}; detail="${detail}"`);
  pop.recordResponse("error", response.status, 0);
  return response;
}

/** Never an open proxy: only configured hosts are fetched, from configured origins. */
export function unknownHost(pop: Pop, url: URL): Response {
  return refusedBeforeTheCache(pop, 421, "unknown host", "unknown-host", { host: url.hostname });
}

/** A path the POP keeps for itself (RESERVED_PATH_PREFIX): never a cache key, never sent to an origin. */
export function reservedPath(pop: Pop): Response {
  return refusedBeforeTheCache(pop, 404, "this path is reserved for the CDN itself", "reserved-path");
}
