/**
 * revalidate: a conditional request for a stored entry that must be
 * validated (stale, no-cache, soft-purged). One conditional fetch decides
 * what happened (validated, no longer storable, replaced, failed); the client's
 * revalidation and the background one (stale-while-revalidate) each act on
 * that outcome. Concurrent revalidations of one entry go forward once.
 */
import { currentAge } from "../http/freshness";
import { staleIfErrorAllows } from "../http/reuse";
import { headersFrom } from "../http/headers";
import type { CacheStatusEntry } from "../http/cache-status";
import { OriginBodyError } from "../body";
import { knownSize, type EntryMeta } from "../cache/entry";
import { freshenWithNotModified, updatedByNotModified } from "../cache/record";
import { cancelBody, type Found } from "../cache/tiers";
import { forward, forwardHeaders, type ForwardResult } from "../forward";
import { budgetLeft, type Transaction } from "../transaction";
import { waitAtMost } from "../wait";
import { deliverTo } from "./deliver-stored";
import { cacheStatusOf, type Step, type StepTo } from "./steps";
import { judgeForStoring, store } from "./store";
import { bodyFailed, failureStatus, unreachable } from "./synth";

/** What one conditional request for a stored entry came to. */
type Revalidation =
  | { kind: "validated"; meta: EntryMeta; result: Extract<ForwardResult, { ok: true }> }
  /** A 304 made the response one that may not be stored: `updated` is what the origin now says. */
  | { kind: "not-storable"; updated: Headers; notStored: string; result: Extract<ForwardResult, { ok: true }> }
  /** A full response, to be judged and stored like a fill. */
  | { kind: "replaced"; result: Extract<ForwardResult, { ok: true }> }
  /** No answer, or a 5xx. */
  | { kind: "failed"; result: ForwardResult; status: number };

async function conditionalFetch(tx: Transaction, found: Found): Promise<Revalidation> {
  const headers = forwardHeaders(tx, true);
  const stored = headersFrom(found.meta.headers);
  const etag = stored.get("etag");
  const lastModified = stored.get("last-modified");
  if (etag) headers.set("if-none-match", etag);
  if (lastModified) headers.set("if-modified-since", lastModified);
  const result = await forward(tx, "GET", headers, null);
  if (!result.ok) return { kind: "failed", result, status: failureStatus(result.failure) };
  const response = result.response;
  if (response.status >= 500) return { kind: "failed", result, status: response.status };
  if (response.status !== 304) return { kind: "replaced", result };
  await cancelBody(response.body);
  const updated = updatedByNotModified(found.meta, response.headers);
  const judged = judgeForStoring(tx, found.meta.status, updated);
  if (!judged.store) return { kind: "not-storable", updated, notStored: judged.reason, result };
  return { kind: "validated", meta: freshenWithNotModified(found.meta, updated, result.requestTime, result.responseTime), result };
}

/** Reasons a response may not be stored that come from this client's request, not from what the origin said. */
const REQUEST_SIDE_REASONS = new Set(["authorization", "request-no-store"]);

/**
 * A 304 made the stored response one that may not be stored (private,
 * no-store, a cookie...). When it is the origin that changed its mind, the
 * stored copy goes: it no longer says what the origin says. When only this
 * request kept it from being stored (its Authorization), the copy stays.
 */
async function forgetIfOriginSaysSo(tx: Transaction, found: Found, notStored: string): Promise<void> {
  if (!REQUEST_SIDE_REASONS.has(notStored)) await tx.pop.tiers.invalidate(found.key, (p) => tx.ctx.waitUntil(p));
}

/**
 * Concurrent revalidations of one stored entry go to the origin once; the
 * others wait for it and take what it brought into the memory tier (the origin
 * validated it a moment ago). Without this, clients allowed to send no-cache
 * could still turn one hot object into as many origin requests as clients.
 */
export async function revalidateState(tx: Transaction, step: StepTo<"revalidate">): Promise<Step> {
  const { found, reason } = step;
  const leader = tx.pop.revalidations.leaderOf(found.key);
  if (leader) {
    await waitAtMost(leader, budgetLeft(tx, tx.pop.config.originFetch.collapsedWaitMs), undefined);
    const refreshed = tx.pop.tiers.inMemory(tx.primaryKey, tx.request.headers)?.found;
    if (refreshed && refreshed.meta.responseTime > found.meta.responseTime) {
      void cancelBody(found.body);
      tx.pop.counters.collapsed++;
      const age = currentAge(refreshed.meta.initialAge, refreshed.meta.responseTime, Date.now());
      return {
        to: "deliver",
        found: refreshed,
        cacheStatus: cacheStatusOf(tx, { fwd: reason, fwdStatus: refreshed.meta.status, ttl: refreshed.meta.freshness - age, collapsed: true }),
        age,
      };
    }
    return revalidateForClient(tx, step);
  }
  return tx.pop.revalidations.lead(found.key, undefined, () => revalidateForClient(tx, step));
}

type Outcome<K extends Revalidation["kind"]> = Extract<Revalidation, { kind: K }>;
type StaleIfError = (at: number) => boolean;

async function revalidateForClient(tx: Transaction, step: StepTo<"revalidate">): Promise<Step> {
  const { found } = step;
  const staleIfError: StaleIfError = (at) => staleIfErrorAllows(found.meta, tx.pop.config.cache.staleIfErrorSeconds, at);
  // When this POP has itself seen every origin fail just now, waiting out timeouts only delays the
  // stale copy the client will get. Only its own evidence: a probe's verdict alone (a site without
  // the probed path, a probe's own network trouble) costs one request, never a stale answer from an
  // origin that would have answered. The cheap check first: ranking origins only where stale may stand in.
  const before = Date.now();
  if (staleIfError(before)) {
    const { eligible, refusedHere } = tx.pop.candidates(tx.site, tx.cf, before);
    if (eligible > 0 && refusedHere === eligible) return staleOnError(tx, found, undefined);
  }
  const outcome = await conditionalFetch(tx, found);
  switch (outcome.kind) {
    case "failed":
      return revalidationFailed(tx, step, outcome, staleIfError);
    case "not-storable":
      return updatedButNotStorable(tx, step, outcome);
    case "validated":
      return validated(tx, step, outcome);
    case "replaced":
      return replaced(tx, step, outcome, staleIfError);
  }
}

/** The origin failed or answered 5xx: stale if allowed, else its own error passes through, and no answer at all gets ours. */
async function revalidationFailed(tx: Transaction, step: StepTo<"revalidate">, outcome: Outcome<"failed">, staleIfError: StaleIfError): Promise<Step> {
  const { found, reason } = step;
  if (staleIfError(Date.now())) {
    if (outcome.result.ok) await cancelBody(outcome.result.response.body);
    return staleOnError(tx, found, outcome.status);
  }
  await cancelBody(found.body);
  if (!outcome.result.ok) return unreachable(tx, outcome.result, reason);
  return store(tx, outcome.result, reason, { manifest: step.manifest }).catch((err: unknown) => bodyFailed(tx, err, reason));
}

/** A 304 that made the response unstorable: this client gets it as updated, every field included; nobody else does. */
async function updatedButNotStorable(tx: Transaction, step: StepTo<"revalidate">, outcome: Outcome<"not-storable">): Promise<Step> {
  const { found, reason } = step;
  await forgetIfOriginSaysSo(tx, found, outcome.notStored);
  const cacheStatus = cacheStatusOf(tx, { fwd: reason, fwdStatus: 304, detail: tx.pop.config.debug ? `not-stored:${outcome.notStored}` : outcome.result.shieldBypass });
  const response = deliverTo(
    tx,
    { status: found.meta.status, headers: outcome.updated, body: found.body, size: knownSize(found.meta) },
    { cacheStatus, age: 0, evaluateRequest: true },
  );
  return { to: "done", response };
}

/** A 304 that keeps the stored body: the entry is freshened in both tiers and delivered. */
function validated(tx: Transaction, step: StepTo<"revalidate">, outcome: Outcome<"validated">): Step {
  const { found, reason } = step;
  const meta = outcome.meta;
  tx.ctx.waitUntil(tx.pop.tiers.refresh(found, meta));
  const age = Math.floor(meta.initialAge);
  const upstream = outcome.result.response.headers.get("cache-status") ?? undefined;
  const cacheStatus: CacheStatusEntry = cacheStatusOf(tx, { fwd: reason, fwdStatus: 304, ttl: meta.freshness - age, stored: true, detail: outcome.result.shieldBypass, upstream });
  return { to: "deliver", found: { ...found, meta }, cacheStatus, age };
}

/** A full response replaces what we had, once its body has arrived whole. */
async function replaced(tx: Transaction, step: StepTo<"revalidate">, outcome: Outcome<"replaced">, staleIfError: StaleIfError): Promise<Step> {
  const { found, reason } = step;
  try {
    const stored = await store(tx, outcome.result, reason, { manifest: step.manifest });
    await cancelBody(found.body);
    return stored;
  } catch (err) {
    if (staleIfError(Date.now())) return staleOnError(tx, found, err instanceof OriginBodyError && err.kind === "stalled" ? 504 : 502);
    await cancelBody(found.body);
    return bodyFailed(tx, err, reason);
  }
}

/** A stored copy standing in for an origin that failed (RFC 5861 stale-if-error). */
function staleOnError(tx: Transaction, found: Found, failedStatus: number | undefined): Step {
  tx.pop.countStale("if-error");
  const age = currentAge(found.meta.initialAge, found.meta.responseTime, Date.now());
  const cacheStatus = cacheStatusOf(tx, { fwd: "stale", fwdStatus: failedStatus, ttl: found.meta.freshness - age, detail: "stale-if-error" });
  return { to: "deliver", found, cacheStatus, age, heldFields: found.meta.noCacheFields };
}

/**
 * stale-while-revalidate: the client already has the stale copy; the
 * revalidation runs behind the response, once per entry at a time, and only
 * its effect on the tiers remains.
 */
export function revalidateInBackground(tx: Transaction, found: Found): void {
  if (tx.pop.backgroundRevalidations.leaderOf(found.key)) return;
  const stored = found.tier === "memory" ? found : { ...found, body: null };
  const work = tx.pop.backgroundRevalidations.lead(found.key, undefined, async () => {
    const outcome = await conditionalFetch(tx, stored);
    if (outcome.kind === "validated") await tx.pop.tiers.refresh(stored, outcome.meta);
    else if (outcome.kind === "not-storable") await forgetIfOriginSaysSo(tx, stored, outcome.notStored);
    else if (outcome.kind === "failed") {
      if (outcome.result.ok) await cancelBody(outcome.result.response.body);
    } else {
      const replaced = await store(tx, outcome.result, "stale");
      if (replaced.to === "done") await cancelBody((await replaced.response).body);
    }
  });
  tx.ctx.waitUntil(work.catch(() => undefined));
}
