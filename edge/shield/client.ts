/**
 * The POP's side of the shield: a miss sent to the shard that owns its key
 * (authenticated, within the request's budget, believed only with its
 * nonce), and the invalidations an unsafe request owes the shards. The shard
 * is shard.ts's Durable Object; the fields both speak, common/shield/protocol.ts.
 */
import { normalizePath, normalizeQuery, primaryKey } from "../../common/cache-key";
import { siteUsesShield, type CacheKeyConfig } from "../../common/config";
import { shardFor, shieldAddress, shieldRegion, type ShieldAddress } from "../../common/shield/placement";
import { SHIELD_ANSWER, SHIELD_FIELDS, SHIELD_RELAY_MARGIN_MS, shieldRoutePath } from "../../common/shield/protocol";
import { DEFAULT_CONTROL_HOST } from "../../common/settings";
import type { OriginFetchResult } from "../routing/origin-fetch";
import { budgetLeft, type Transaction } from "../transaction";

/** Why a request went to the origin without its shield, for Cache-Status. */
export type ShieldBypass = "shield-down" | "shield-ejected";

/** The control worker's route to a shard, which POPs reach through the CONTROL binding. */
function shieldRoute(tx: Transaction, address: ShieldAddress): string {
  return `https://${tx.pop.env.CONTROL_HOST ?? DEFAULT_CONTROL_HOST}${shieldRoutePath(address.region, address.shard)}`;
}

/** A URL as a shield shard is told it: the site's host, and the path and query the key holds. */
function shieldTargetUrl(url: URL, keyConfig: CacheKeyConfig): string {
  return `https://${url.hostname}${normalizePath(url.pathname)}${normalizeQuery(url.search, keyConfig)}`;
}

/** A refusal's status and its word on why (a short JSON body of ours), for the ejection's log line. */
async function refusalOf(response: Response): Promise<string> {
  const reason = ((await response.text().catch(() => "")).match(/"(?:reason|error)":"([^"]{0,200})/) ?? [])[1];
  return `shield answered ${response.status}${reason ? `: ${reason}` : ""}`;
}

/** The client's fields and ours: the POP token, the key's URL, the purge position, the nonce, the budget. */
function shieldFields(tx: Transaction, headers: Headers, nonce: string, requestTime: number): Headers {
  const pop = tx.pop;
  const fields = new Headers(headers);
  fields.set(SHIELD_FIELDS.nonce, nonce);
  fields.set(SHIELD_FIELDS.token, pop.env.POP_TOKEN ?? "");
  fields.set(SHIELD_FIELDS.url, shieldTargetUrl(tx.url, pop.config.cache.key));
  fields.set(SHIELD_FIELDS.purgeSeq, String(pop.purges.highestSeq));
  // The shard answers within what is left, less the time to relay its answer.
  fields.set(SHIELD_FIELDS.budget, String(Math.max(0, Math.floor(budgetLeft(tx, Infinity, requestTime) - SHIELD_RELAY_MARGIN_MS))));
  if (pop.purgeEpoch) fields.set(SHIELD_FIELDS.purgeEpoch, pop.purgeEpoch);
  return fields;
}

/**
 * A miss through the shield shard that owns this key in `region` (see
 * shield.placement). Undefined when the POP must go to the origin
 * itself: the shard is ejected (passive health, as for an origin), says it is
 * unavailable, or does not answer within shield.timeoutMs. Cache-Status then
 * tells (detail=shield-down). An answer of the shard's, whatever its status,
 * is the upper tier's answer: an origin failure behind it is not the shard's.
 */
export async function fetchFromShield(tx: Transaction, region: string | undefined, headers: Headers): Promise<{ result: OriginFetchResult } | { bypass?: ShieldBypass }> {
  const pop = tx.pop;
  const control = pop.env.CONTROL;
  if (!region || !control) return {};
  const address = shieldAddress(region, shardFor(tx.primaryKey, pop.config.shield.shardsPerRegion));
  const id = `shield:${address.objectName}`;
  const requestTime = Date.now();
  if (!pop.outliers.admits(id, requestTime)) {
    return { bypass: "shield-ejected" };
  }
  // The shard echoes it in its answer: an answer without it is not the shard's (the route refused,
  // or the runtime failed), and no origin behind the shard ever sees it to forge one.
  const nonce = crypto.randomUUID();
  const fields = shieldFields(tx, headers, nonce, requestTime);
  const waitMs = budgetLeft(tx, pop.config.shield.timeoutMs, requestTime);
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
    // Not the shard's pipeline answering: the route's refusal or the shard's own failure.
    if (response.headers.get(SHIELD_ANSWER) !== nonce) return failed(await refusalOf(response));
    const responseTime = Date.now();
    if (response.body === null) pop.outliers.onSuccess(id, responseTime);
    const attempts = [{ originId: id, outcome: "response" as const, status: response.status, ms: responseTime - requestTime }];
    return { result: { ok: true, response, originId: id, requestTime, responseTime, attempts } };
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
      sent.push(
        control
          .fetch(shieldRoute(tx, shieldAddress(region, shard)), { method: "POST", headers: fields, signal: AbortSignal.timeout(pop.config.shield.timeoutMs) })
          .then((r) => r.body?.cancel()),
      );
    }
  }
  await Promise.allSettled(sent);
}
