/** lookup: both tiers, for the request's key and its variant. */
import type { Transaction } from "../transaction";
import type { Step } from "./steps";

export async function lookupState(tx: Transaction): Promise<Step> {
  const result = await tx.pop.tiers.lookup(tx.primaryKey, tx.request.headers);
  if (result.found) return { to: "hitOrStale", found: result.found, manifest: result.manifest };
  tx.pop.counters.misses++;
  return { to: "miss", reason: result.reason, manifest: result.manifest };
}
