/**
 * fetch: the request to the origin. Builds the forwarded request and runs
 * it through steering, passive health, the retry budget and the per-origin
 * counters of the POP.
 */
import { normalizePath, normalizeQuery } from "../common/cache-key";
import { CLIENT_VALIDATORS, isInternalField, stripHopByHop, withoutInternalFields } from "./http/headers";
import { SURROGATE_CAPABILITY } from "./http/targeted";
import { fetchFromOrigins, isGatewayFailure, type OriginFetchResult } from "./routing/origin-fetch";

import { declaredLength } from "./body";
import { type BodyOutcome, guardOriginBody } from "./origin-body-guard";
import { siteUsesShield } from "../common/config";
import { regionForKey, shieldRegion } from "../common/shield/placement";
import { fetchFromShield, type ShieldBypass } from "./shield/client";
import { budgetLeft, type Transaction } from "./transaction";

export type { ShieldBypass } from "./shield/client";

/** One trip forward: the origin's (or the shield's) answer, and whether the shield was passed by. */
export type ForwardResult = OriginFetchResult & { shieldBypass?: ShieldBypass };

/**
 * Client fields that rewrite, in common origin frameworks, what the request
 * means (its URL, host, scheme or method) while no cache key holds them: a
 * client could make the origin answer one thing and have it stored as another.
 * They never reach the origin; the forwarding fields are set by us alone.
 */
const UNKEYED_OVERRIDES = [
  "forwarded",
  "x-original-url",
  "x-rewrite-url",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-host",
  "x-original-host",
  "x-forwarded-server",
];

/**
 * Fields that name the client's address. Origins log and rate-limit by them,
 * and some trust them for access: a client must not choose its own. The
 * address Cloudflare saw goes in X-Forwarded-For; these go nowhere.
 */
const CLIENT_ADDRESS_FIELDS = ["true-client-ip", "x-real-ip", "x-client-ip", "x-cluster-client-ip", "client-ip", "fastly-client-ip"];

/** The path and query the origin is asked for: exactly what the cache key holds (ignored parameters dropped). */
export function forwardPathAndQuery(tx: Transaction): string {
  return normalizePath(tx.url.pathname) + normalizeQuery(tx.url.search, tx.pop.config.cache.key);
}

/** Request headers for the origin. A fill drops the client's validators and Range: we want the whole object. */
export function forwardHeaders(tx: Transaction, fill: boolean): Headers {
  const headers = new Headers(tx.request.headers);
  stripHopByHop(headers);
  if (fill) for (const name of CLIENT_VALIDATORS) headers.delete(name);
  for (const name of UNKEYED_OVERRIDES) headers.delete(name);
  for (const name of CLIENT_ADDRESS_FIELDS) headers.delete(name);
  for (const name of [...headers.keys()]) if (name.startsWith("x-forwarded-") || isInternalField(name)) headers.delete(name);
  // Compression is negotiated at the edge; origins are asked for identity so stored bodies are plain.
  headers.set("accept-encoding", "identity");
  const clientIp = tx.request.headers.get("cf-connecting-ip");
  if (clientIp) headers.set("x-forwarded-for", clientIp);
  // The key holds neither the client's scheme nor its port: the origin learns the site's.
  headers.set("x-forwarded-host", tx.url.hostname);
  headers.set("x-forwarded-proto", tx.site.scheme);
  const via = headers.get("via");
  headers.set("via", via ? `${via}, 1.1 ${tx.pop.name}` : `1.1 ${tx.pop.name}`);
  // Tells the origin that Surrogate-Control may target us (W3C Edge Architecture). Ours alone: a
  // client's claim (say of ESI) would change what the origin sends for everyone, unkeyed. The
  // shield hears the POP's, which is ours too, so the origin hears it once.
  headers.set("surrogate-capability", SURROGATE_CAPABILITY);
  for (const name of [...headers.keys()]) if (name.startsWith("cf-")) headers.delete(name);
  return headers;
}

/**
 * One trip to the origins. `avoid`: an origin that just failed this request
 * (its body broke off), tried again only when no other origin is left. The
 * answer's body comes guarded: it fails as stalled after
 * originFetch.bodyIdleTimeoutMs without bytes, and its end (whole or broken)
 * is what counts for or against the origin's health.
 */
export async function forward(tx: Transaction, method: string, headers: Headers, body: ReadableStream<Uint8Array> | Uint8Array | null, avoid?: string): Promise<ForwardResult> {
  const pop = tx.pop;
  const now = Date.now();
  // The request's budget is spent (a shield that took it, waits before this): no trip starts now.
  if (budgetLeft(tx, Infinity, now) === 0) return { ok: false, failure: "timeout", attempts: [] };
  let { ranked } = pop.candidates(tx.site, tx.cf, now);
  let shieldBypass: ShieldBypass | undefined;
  if (method === "GET" && !pop.isShield && siteUsesShield(pop.config, tx.site) && avoid === undefined) {
    const region =
      pop.config.shield.placement === "key"
        ? regionForKey(
            tx.primaryKey,
            ranked.map((c) => shieldRegion(c.origin)),
          )
        : ranked[0] && shieldRegion(ranked[0].origin);
    const viaShield = await fetchFromShield(tx, region, headers);
    if ("result" in viaShield) return guarded(tx, viaShield.result);
    shieldBypass = viaShield.bypass;
  }
  if (avoid !== undefined && ranked.some((c) => c.origin.id !== avoid)) ranked = ranked.filter((c) => c.origin.id !== avoid);
  pop.counters.originRequests++;
  pop.retryBudget.onRequest(now);
  const result = await fetchFromOrigins(ranked, {
    method,
    headers,
    body,
    timeoutMs: pop.config.originFetch.timeoutMs,
    deadline: tx.deadline,
    retries: pop.config.originFetch.retries,
    pathAndQuery: forwardPathAndQuery(tx),
    observer: {
      onSend: (id) => {
        pop.outliers.onSend(id, Date.now());
        (pop.originStats[id] ??= { requests: 0, errors: 0 }).requests++;
      },
      onAbandoned: (id) => pop.outliers.onAbandoned(id),
      onResult: (id, ok, reason) => {
        if (ok) return pop.outliers.onSuccess(id, Date.now());
        pop.originStats[id].errors++;
        pop.outliers.onFailure(id, reason, Date.now());
      },
    },
    slotFor: (origin) => {
      const release = pop.originSlots.take(origin.id, origin.maxRequests ?? pop.config.loadBalancing.maxRequestsPerOrigin);
      if (!release) pop.counters.originOverflows++;
      return release;
    },
    mayRetry: () => {
      const allowed = pop.retryBudget.tryRetry(Date.now());
      if (allowed) pop.counters.retries++;
      else pop.counters.retriesDeniedByBudget++;
      return allowed;
    },
  });
  pop.flushReports((p) => tx.ctx.waitUntil(p));
  if (!result.ok || result.response.status >= 500) pop.counters.originErrors++;
  return { ...guarded(tx, result), ...(shieldBypass ? { shieldBypass } : {}) };
}

/**
 * The answer as the pipeline may see it: no internal field an origin (or a
 * shard's origin) put in it, and its body behind the idle guard, whose end
 * counts for or against the origin. A gateway failure was counted when its
 * status line came: its body arriving whole does not make it a success
 * (Envoy's consecutive_gateway_failure), or an origin answering every request
 * with a 503 page would never be ejected.
 */
function guarded(tx: Transaction, result: OriginFetchResult): OriginFetchResult {
  const pop = tx.pop;
  if (!result.ok) return result;
  const ms = result.responseTime - result.requestTime;
  tx.timing.originMs = (tx.timing.originMs ?? 0) + ms;
  pop.series.observe("originResponse", [result.originId], ms / 1000);
  const headers = withoutInternalFields(result.response.headers);
  if (result.response.body === null) return headers === result.response.headers ? result : { ...result, response: new Response(null, { status: result.response.status, headers }) };
  const originId = result.originId;
  const gatewayFailure = isGatewayFailure(result.response.status);
  const wholeLength = wholeLengthOf(result.response.headers, pop.config.cache.memoryEntryMaxBytes);
  const outcome: BodyOutcome = {
    onBytes: (bytes) => (pop.counters.originBytes += bytes),
    onComplete: () => {
      if (!gatewayFailure) pop.outliers.onSuccess(originId, Date.now());
    },
    onFailure: (error) => {
      pop.counters.originErrors++;
      (pop.originStats[originId] ??= { requests: 0, errors: 0 }).errors++;
      pop.outliers.onFailure(originId, error.message, Date.now());
      pop.flushReports((p) => tx.ctx.waitUntil(p));
    },
  };
  const guarded = guardOriginBody(result.response.body, pop.config.originFetch.bodyIdleTimeoutMs, outcome, wholeLength);
  return { ...result, response: new Response(guarded, { status: result.response.status, headers }) };
}

/**
 * The length of a body the guard may read into one buffer (largeChunkReader): one the origin
 * framed by its Content-Length, as it comes (not decoded by the runtime's fetch, which changes its
 * length), and small enough to be kept whole in memory; a larger one streams past in chunks.
 */
function wholeLengthOf(headers: Headers, memoryEntryMaxBytes: number): number | undefined {
  const encoding = headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") return undefined;
  const length = declaredLength(headers);
  return length !== undefined && length <= memoryEntryMaxBytes ? length : undefined;
}
