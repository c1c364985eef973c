/**
 * hitOrStale: may the stored response be used, and how? Purge rules first
 * (a hard purge makes it a miss, a soft one makes it stale), then RFC 9111
 * §4's reuse decision: fresh (deliver), stale within stale-while-revalidate
 * (deliver, revalidating behind), or forward (revalidate).
 */
import { cancelBody } from "../cache/tiers";
import { reuseDecision } from "../http/reuse";
import type { Transaction } from "../transaction";
import { revalidateInBackground } from "./revalidate";
import { cacheStatusOf, type Step, type StepTo } from "./steps";
import { onlyIfCachedMiss } from "./synth";

export function hitOrStale(tx: Transaction, step: StepTo<"hitOrStale">): Step {
  let found = step.found;
  const purge = tx.pop.purges.verdict(found.meta.key, found.meta.tags, found.meta.requestTime);
  if (purge.kind === "hard") {
    // Purged after it was fetched: gone, from this tier now and for good.
    void cancelBody(found.body);
    tx.pop.memory.delete(found.key);
    tx.pop.counters.misses++;
    return { to: "miss", reason: "uri-miss", manifest: step.manifest };
  }
  if (purge.kind === "soft") {
    // Soft purge: the entry counts as stale from the purge on, and the stale rules decide.
    const ageAtPurge = found.meta.initialAge + (purge.at - found.meta.responseTime) / 1000;
    found = { ...found, meta: { ...found.meta, freshness: Math.min(found.meta.freshness, Math.max(0, Math.floor(ageAtPurge))) } };
  }
  const decision = reuseDecision(found.meta, tx.requestDirectives, tx.pragmaNoCache, Date.now());
  const heldFields = found.meta.noCacheFields;
  if (decision.kind === "fresh") {
    tx.pop.counters.hits++;
    return { to: "deliver", found, cacheStatus: cacheStatusOf(tx, { hit: true, ttl: decision.ttl }), age: decision.age, heldFields };
  }
  if (decision.kind === "stale-serve") {
    tx.pop.counters.hits++;
    tx.pop.countStale("while-revalidate");
    if (decision.revalidate) revalidateInBackground(tx, found);
    return { to: "deliver", found, cacheStatus: cacheStatusOf(tx, { hit: true, ttl: decision.ttl, detail: "stale-while-revalidate" }), age: decision.age, heldFields };
  }
  if (tx.requestDirectives.onlyIfCached) {
    void cancelBody(found.body);
    return onlyIfCachedMiss(tx, "miss", "no fresh stored response");
  }
  return { to: "revalidate", found, reason: decision.reason, manifest: step.manifest };
}
