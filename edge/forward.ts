/**
 * fetch: the request to the origin. Builds the forwarded request and runs
 * it through steering, passive health, the retry budget and the per-origin
 * counters of the POP.
 */
import { normalizeQuery } from "./cache/key";
import { CLIENT_VALIDATORS, stripHopByHop } from "./http/headers";
import { SURROGATE_CAPABILITY } from "./http/targeted";
import { fetchFromOrigins, type OriginFetchResult } from "./routing/origin-fetch";
import { guardOriginBody } from "./body";
import type { Transaction } from "./transaction";

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

/** The path and query the origin is asked for: exactly what the cache key holds (ignored parameters dropped). */
export function forwardPathAndQuery(tx: Transaction): string {
  return tx.url.pathname + normalizeQuery(tx.url.search, tx.pop.config.cache.key);
}

/** Request headers for the origin. A fill drops the client's validators and Range: we want the whole object. */
export function forwardHeaders(tx: Transaction, fill: boolean): Headers {
  const headers = new Headers(tx.request.headers);
  stripHopByHop(headers);
  if (fill) for (const name of CLIENT_VALIDATORS) headers.delete(name);
  for (const name of UNKEYED_OVERRIDES) headers.delete(name);
  for (const name of [...headers.keys()]) if (name.startsWith("x-forwarded-")) headers.delete(name);
  // Compression is negotiated at the edge; origins are asked for identity so stored bodies are plain.
  headers.set("accept-encoding", "identity");
  const clientIp = tx.request.headers.get("cf-connecting-ip");
  if (clientIp) headers.set("x-forwarded-for", clientIp);
  // The key holds neither the client's scheme nor its port: the origin learns the site's.
  headers.set("x-forwarded-host", tx.url.hostname);
  headers.set("x-forwarded-proto", tx.site.scheme);
  const via = headers.get("via");
  headers.set("via", via ? `${via}, 1.1 ${tx.pop.name}` : `1.1 ${tx.pop.name}`);
  // Tells the origin that Surrogate-Control may target us (W3C Edge Architecture).
  const capability = headers.get("surrogate-capability");
  headers.set("surrogate-capability", capability ? `${capability}, ${SURROGATE_CAPABILITY}` : SURROGATE_CAPABILITY);
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
export async function forward(tx: Transaction, method: string, headers: Headers, body: ReadableStream<Uint8Array> | Uint8Array | null, avoid?: string): Promise<OriginFetchResult> {
  const pop = tx.pop;
  const now = Date.now();
  let { ranked } = pop.candidates(tx.site, tx.cf, now);
  if (avoid !== undefined && ranked.some((c) => c.origin.id !== avoid)) ranked = ranked.filter((c) => c.origin.id !== avoid);
  pop.counters.originRequests++;
  pop.retryBudget.onRequest(now);
  const result = await fetchFromOrigins(ranked, {
    method,
    headers,
    body,
    timeoutMs: pop.config.originFetch.timeoutMs,
    retries: pop.config.originFetch.retries,
    pathAndQuery: forwardPathAndQuery(tx),
    observer: {
      onSend: (id) => {
        pop.outliers.onSend(id, Date.now());
        (pop.originStats[id] ??= { requests: 0, errors: 0 }).requests++;
      },
      onResult: (id, ok, reason) => {
        if (ok) return pop.outliers.onSuccess(id, Date.now());
        pop.originStats[id].errors++;
        pop.outliers.onFailure(id, reason, Date.now());
      },
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
  if (!result.ok || result.response.body === null) return result;
  const originId = result.originId;
  const guarded = guardOriginBody(result.response.body, pop.config.originFetch.bodyIdleTimeoutMs, {
    onComplete: () => pop.outliers.onSuccess(originId, Date.now()),
    onFailure: (error) => {
      pop.counters.originErrors++;
      pop.originStats[originId].errors++;
      pop.outliers.onFailure(originId, error.message, Date.now());
      pop.flushReports((p) => tx.ctx.waitUntil(p));
    },
  });
  return { ...result, response: new Response(guarded, { status: result.response.status, headers: result.response.headers }) };
}

