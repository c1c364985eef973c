/**
 * fetch: the request to the origin. Builds the forwarded request and runs
 * it through steering, passive health, the retry budget and the per-origin
 * counters of the POP.
 */
import { normalizePath, normalizeQuery, primaryKey } from "../common/cache-key";
import { CLIENT_VALIDATORS, isInternalField, stripHopByHop, withoutInternalFields } from "./http/headers";
import { SURROGATE_CAPABILITY } from "./http/targeted";
import { fetchFromOrigins, isGatewayFailure, type OriginFetchResult } from "./routing/origin-fetch";

/** Why a request went to the origin without its shield, for Cache-Status. */
export type ShieldBypass = "shield-down" | "shield-ejected";

/** One trip forward: the origin's (or the shield's) answer, and whether the shield was passed by. */
export type ForwardResult = OriginFetchResult & { shieldBypass?: ShieldBypass };
import { guardOriginBody } from "./body";
import { siteUsesShield, type CacheKeyConfig } from "../common/config";
import { regionForKey, shardFor, shieldAddress, shieldRegion, type ShieldAddress } from "../common/shield/placement";
import { SHIELD_ANSWER, SHIELD_FIELDS, SHIELD_RELAY_MARGIN_MS } from "../common/shield/protocol";
import { budgetLeft, type Transaction } from "./transaction";

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

/** The control worker's route to a shard, which POPs reach through the CONTROL binding. */
function shieldRoute(tx: Transaction, address: ShieldAddress): string {
  return `https://${tx.pop.env.CONTROL_HOST ?? "control.internal"}/__shield/${address.region}/${address.shard}`;
}

/** A URL as a shield shard is told it: the site's host, and the path and query the key holds. */
function shieldTargetUrl(url: URL, keyConfig: CacheKeyConfig): string {
  return `https://${url.hostname}${normalizePath(url.pathname)}${normalizeQuery(url.search, keyConfig)}`;
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
        ? regionForKey(tx.primaryKey, ranked.map((c) => shieldRegion(c.origin)))
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
  const guarded = guardOriginBody(result.response.body, pop.config.originFetch.bodyIdleTimeoutMs, {
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
  });
  return { ...result, response: new Response(guarded, { status: result.response.status, headers }) };
}

/**
 * A miss through the shield shard that owns this key in `region` (see
 * shield.placement). Undefined when the POP must go to the origin
 * itself: the shard is ejected (passive health, as for an origin), says it is
 * unavailable, or does not answer within shield.timeoutMs. Cache-Status then
 * tells (detail=shield-down). An answer of the shard's, whatever its status,
 * is the upper tier's answer: an origin failure behind it is not the shard's.
 */
async function fetchFromShield(tx: Transaction, region: string | undefined, headers: Headers): Promise<{ result: OriginFetchResult } | { bypass?: ShieldBypass }> {
  const pop = tx.pop;
  const control = pop.env.CONTROL;
  if (!region || !control) return {};
  const address = shieldAddress(region, shardFor(tx.primaryKey, pop.config.shield.shardsPerRegion));
  const id = `shield:${address.objectName}`;
  const requestTime = Date.now();
  if (!pop.outliers.admits(id, requestTime)) {
    return { bypass: "shield-ejected" };
  }
  const fields = new Headers(headers);
  // The shard echoes it in its answer: an answer without it is not the shard's (the route refused,
  // or the runtime failed), and no origin behind the shard ever sees it to forge one.
  const nonce = crypto.randomUUID();
  fields.set(SHIELD_FIELDS.nonce, nonce);
  fields.set(SHIELD_FIELDS.token, pop.env.POP_TOKEN ?? "");
  fields.set(SHIELD_FIELDS.url, shieldTargetUrl(tx.url, pop.config.cache.key));
  fields.set(SHIELD_FIELDS.purgeSeq, String(pop.purges.highestSeq));
  // The shard answers within what is left, less the time to relay its answer.
  const waitMs = budgetLeft(tx, pop.config.shield.timeoutMs, requestTime);
  fields.set(SHIELD_FIELDS.budget, String(Math.max(0, Math.floor(budgetLeft(tx, Infinity, requestTime) - SHIELD_RELAY_MARGIN_MS))));
  if (pop.purgeEpoch) fields.set(SHIELD_FIELDS.purgeEpoch, pop.purgeEpoch);
  pop.outliers.onSend(id, requestTime);
  (pop.originStats[id] ??= { requests: 0, errors: 0 }).requests++;
  pop.counters.shieldRequests++;
  const failed = (reason: string): { bypass: ShieldBypass } => {
    pop.counters.shieldBypasses++;
    pop.originStats[id].errors++;
    pop.outliers.onFailure(id, reason, Date.now());
    return { bypass: "shield-down" };
  };
  // The wait is for the shard's response headers; its body has the idle guard (an abort signal would cut it too).
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${waitMs} ms`)), Math.max(1, waitMs));
  try {
    const response = await control.fetch(shieldRoute(tx, address), {
      method: "GET",
      headers: fields,
      redirect: "manual",
      signal: abort.signal,
    });
    clearTimeout(timer);
    if (response.headers.get(SHIELD_ANSWER) !== nonce) {
      // Not the shard's pipeline answering: the route's refusal or the shard's own failure. Its
      // word on why (a short JSON body of ours), for the ejection's log line.
      const reason = ((await response.text().catch(() => "")).match(/"(?:reason|error)":"([^"]{0,200})/) ?? [])[1];
      return failed(`shield answered ${response.status}${reason ? `: ${reason}` : ""}`);
    }
    const responseTime = Date.now();
    if (response.body === null) pop.outliers.onSuccess(id, responseTime);
    return { result: { ok: true, response, originId: id, requestTime, responseTime, attempts: [{ originId: id, outcome: "response", status: response.status, ms: responseTime - requestTime }] } };
  } catch (err) {
    clearTimeout(timer);
    if (waitMs < pop.config.shield.timeoutMs && Date.now() - requestTime >= waitMs) {
      // The request's budget ran out first, not the shard's own timeout: nothing held against the shard.
      pop.outliers.onAbandoned(id);
      return {};
    }
    return failed(`shield: ${(err as Error).message}`);
  }
}

/**
 * RFC 9111 §4.4 across the tiers: an unsafe request that succeeded invalidates
 * its targets at the shield as well, or this POP's next GET would refill from
 * the shield's copy of what just changed. Sent to the owning shard in every
 * region the site's origins map to (a key's region follows origin health, so
 * its copy may sit in any of them), each within shield.timeoutMs: a shard that
 * does not answer keeps its copy until it expires or a purge reaches it.
 */
export async function invalidateAtShields(tx: Transaction, targets: readonly URL[]): Promise<void> {
  const pop = tx.pop;
  const control = pop.env.CONTROL;
  if (!control || pop.isShield || !siteUsesShield(pop.config, tx.site)) return;
  const regions = new Set(pop.originsOf(tx.site).map(shieldRegion));
  const sent: Promise<unknown>[] = [];
  for (const target of targets) {
    const shard = shardFor(primaryKey(target, pop.config.cache.key), pop.config.shield.shardsPerRegion);
    for (const region of regions) {
      const fields = new Headers();
      fields.set(SHIELD_FIELDS.token, pop.env.POP_TOKEN ?? "");
      fields.set(SHIELD_FIELDS.url, shieldTargetUrl(target, pop.config.cache.key));
      fields.set(SHIELD_FIELDS.invalidate, "1");
      sent.push(control.fetch(shieldRoute(tx, shieldAddress(region, shard)), { method: "POST", headers: fields, signal: AbortSignal.timeout(pop.config.shield.timeoutMs) }).then((r) => r.body?.cancel()));
    }
  }
  await Promise.allSettled(sent);
}
