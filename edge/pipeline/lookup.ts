/**
 * lookup: both tiers, for the request's key and its variant. The store
 * behind memory gets cache.lookupTimeoutMs (within the request's budget):
 * one that does not answer makes the request a miss (fwd=miss), never a wait
 * without end; its late answer is let go. Too many of those in a row open the
 * Pop's store breaker, and lookups skip the store (fwd=miss at once) until it
 * has cooled and a lookup finds it answering again.
 */
import { cancelBody, type Lookup } from "../cache/tiers";
import { budgetLeft, type Transaction } from "../transaction";
import { waitAtMost } from "../wait";
import type { Step } from "./steps";

export async function lookupState(tx: Transaction): Promise<Step> {
  const { counters, storeBreaker } = tx.pop;
  if (!storeBreaker.allowLookup(Date.now())) {
    // The store left too many lookups unanswered in a row: memory (asked in recv) and the origin serve.
    counters.misses++;
    counters.lookupsSkipped++;
    return { to: "miss", reason: "miss" };
  }
  const lookup = tx.pop.tiers.lookup(tx.primaryKey, tx.request.headers);
  const storeTime = tx.pop.config.cache.lookupTimeoutMs;
  const wait = budgetLeft(tx, storeTime);
  // A lookup that throws has answered too (at once): the breaker hears of it before the state fails.
  const result = await waitAtMost(lookup, wait, undefined).catch((err: unknown) => {
    storeBreaker.answered();
    throw err;
  });
  if (result) storeBreaker.answered();
  if (result?.found) return { to: "hitOrStale", found: result.found, manifest: result.manifest };
  counters.misses++;
  if (!result) {
    storeBreaker.timedOut(Date.now(), wait === storeTime);
    counters.lookupTimeouts++;
    tx.ctx.waitUntil(lookup.then(letGo, () => undefined));
    return { to: "miss", reason: "miss" };
  }
  return { to: "miss", reason: result.reason, manifest: result.manifest };
}

/** A lookup answered after the request went on without it: its body is read by no one. */
function letGo(late: Lookup): Promise<void> {
  return cancelBody(late.found?.body ?? null);
}
