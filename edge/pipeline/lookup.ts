/**
 * lookup: both tiers, for the request's key and its variant. The store
 * behind memory gets cache.lookupTimeoutMs (within the request's budget):
 * one that does not answer makes the request a miss (fwd=miss), never a wait
 * without end; its late answer is let go.
 */
import { cancelBody, type Lookup } from "../cache/tiers";
import { budgetLeft, type Transaction } from "../transaction";
import { waitAtMost } from "../wait";
import type { Step } from "./steps";

export async function lookupState(tx: Transaction): Promise<Step> {
  const lookup = tx.pop.tiers.lookup(tx.primaryKey, tx.request.headers);
  const result = await waitAtMost(lookup, budgetLeft(tx, tx.pop.config.cache.lookupTimeoutMs), undefined);
  if (result?.found) return { to: "hitOrStale", found: result.found, manifest: result.manifest };
  tx.pop.counters.misses++;
  if (!result) {
    tx.pop.counters.lookupTimeouts++;
    tx.ctx.waitUntil(lookup.then(letGo, () => undefined));
    return { to: "miss", reason: "miss" };
  }
  return { to: "miss", reason: result.reason, manifest: result.manifest };
}

/** A lookup answered after the request went on without it: its body is read by no one. */
function letGo(late: Lookup): Promise<void> {
  return cancelBody(late.found?.body ?? null);
}
