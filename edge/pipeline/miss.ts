/**
 * miss: nothing usable stored. Concurrent misses for one key collapse onto
 * one fill (the leader); followers wait for it, within the request's budget,
 * and take what it stored when it is their variant. The leader's client has
 * its answer as the body arrives (store's stream option). A fill whose body
 * fails before its client has a byte goes forward once more, elsewhere if it can.
 */
import { variantKey, varyFields } from "../../common/cache-key";
import { declaredLength } from "../body";
import type { EntryMeta } from "../cache/entry";
import type { Found } from "../cache/tiers";
import { forward, forwardHeaders } from "../forward";
import type { ForwardReason } from "../http/cache-status";
import { currentAge } from "../http/freshness";
import { headersFrom } from "../http/headers";
import { resolveRange } from "../http/range";
import { SLICE_WITHIN_BYTES } from "../ranged-body";
import { budgetLeft, type Transaction } from "../transaction";
import { waitAtMost } from "../wait";
import { cacheStatusOf, type Step, type StepTo } from "./steps";
import { store, type StoreOptions, untilStarted } from "./store";
import { bodyFailed, onlyIfCachedMiss, unreachable } from "./synth";

export async function missState(tx: Transaction, step: StepTo<"miss">): Promise<Step> {
  const { reason, manifest } = step;
  if (tx.requestDirectives.onlyIfCached) return onlyIfCachedMiss(tx, reason, "nothing stored");
  // Known too large to store: a range of it is the origin's to answer, alone, and nothing to wait for.
  if (asksForRange(tx) && tx.pop.tooLarge.has(tx.primaryKey)) return { to: "rangePass", reason };
  const leader = tx.pop.fills.leaderOf(tx.primaryKey);
  if (leader) {
    const outcome = await waitAtMost(leader, budgetLeft(tx, tx.pop.config.originFetch.collapsedWaitMs), { kind: "not-shared" as const });
    if (outcome.kind === "shared" && sameVariant(tx, outcome)) return collapsedOnto(tx, reason, { key: outcome.variantKey, meta: outcome.meta, body: outcome.body });
    if (outcome.kind === "following" && sameVariant(tx, outcome)) {
      const body = await followed(tx, outcome.variantKey);
      if (body) return collapsedOnto(tx, reason, { key: outcome.variantKey, meta: outcome.meta, body });
    }
    // Not shareable: go forward on our own.
    return fill(tx, reason, { manifest, stream: true });
  }
  return tx.pop.fills.lead(tx.primaryKey, { kind: "not-shared" }, (settle, hold) => fill(tx, reason, { manifest, settle, hold, stream: true }));
}

/** A request answered from the fill it collapsed onto: its body whole, or as it is stored. */
function collapsedOnto(tx: Transaction, reason: ForwardReason, fill: { key: string; meta: EntryMeta; body: Uint8Array | ReadableStream<Uint8Array> }): Step {
  tx.pop.counters.collapsed++;
  const found: Found = { key: fill.key, meta: fill.meta, body: fill.body, tier: fill.body instanceof Uint8Array ? "memory" : "cache-api" };
  const age = currentAge(fill.meta.initialAge, fill.meta.responseTime, Date.now());
  const cacheStatus = cacheStatusOf(tx, { fwd: reason, fwdStatus: fill.meta.status, ttl: fill.meta.freshness - age, collapsed: true });
  return { to: "deliver", found, cacheStatus, age, heldFields: fill.meta.noCacheFields };
}

/**
 * The leader's body as its store writes it, once its first bytes are stored (within the wait a
 * collapsed request has); undefined when that put is over or failed: then this request fills itself.
 */
async function followed(tx: Transaction, key: string): Promise<ReadableStream<Uint8Array> | undefined> {
  const read = tx.pop.tiers.follow(key);
  if (!read) return undefined;
  return (await untilStarted(read, budgetLeft(tx, tx.pop.config.originFetch.collapsedWaitMs))) ? undefined : read.body;
}

function sameVariant(tx: Transaction, outcome: { variantKey: string; meta: EntryMeta }): boolean {
  const fields = varyFields(headersFrom(outcome.meta.headers).get("vary")).filter((f) => f !== "accept-encoding");
  if (fields.length === 0) return true;
  return variantKey(tx.primaryKey, fields, tx.request.headers, tx.pop.config.cache.vary) === outcome.variantKey;
}

async function fill(tx: Transaction, reason: ForwardReason, options: StoreOptions): Promise<Step> {
  const result = await forward(tx, "GET", forwardHeaders(tx, true), null);
  if (!result.ok) return unreachable(tx, result, reason);
  if (tooLargeForItsRange(tx, result.response)) {
    // Read through to be sliced, a range near the end of a large video would cost the whole video.
    tx.pop.tooLarge.remember(tx.primaryKey);
    void result.response.body?.cancel().catch(() => undefined);
    return { to: "rangePass", reason };
  }
  try {
    return await store(tx, result, reason, options);
  } catch {
    // The origin's answer stalled or broke off before the client got a byte (an origin
    // dying mid-response; forward's guard has counted it against the origin): go forward
    // once more, elsewhere if we can, as for a refused connection. A second failure is
    // the client's clear 5xx, never a throw.
    const again = await forward(tx, "GET", forwardHeaders(tx, true), null, result.originId);
    if (!again.ok) return unreachable(tx, again, reason);
    try {
      return await store(tx, again, reason, options);
    } catch (second) {
      return bodyFailed(tx, second, reason);
    }
  }
}

/**
 * A fill's answer too large to store, for a client that asked for a range of it past what slicing
 * the body itself costs little (ranged-body.ts's SLICE_WITHIN_BYTES): that range is the origin's.
 */
function tooLargeForItsRange(tx: Transaction, response: Response): boolean {
  const length = declaredLength(response.headers);
  if (!asksForRange(tx) || length === undefined || length <= tx.pop.config.cache.maxObjectBytes) return false;
  const range = resolveRange(tx.request.headers.get("range"), length);
  return range.kind === "partial" && range.start >= SLICE_WITHIN_BYTES;
}

/** A GET with a Range (a HEAD's Range means nothing: RFC 9110 §14.2). */
function asksForRange(tx: Transaction): boolean {
  return tx.request.method === "GET" && tx.request.headers.has("range");
}
