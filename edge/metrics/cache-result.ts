/**
 * What the cache did for a request, in one word, from its Cache-Status
 * entry: the Server-Timing `desc` and the `result` label of the metrics.
 */
import type { CacheStatusEntry } from "../http/cache-status";
import type { CacheResult } from "../../common/metrics/series";

export function cacheResultOf(status: CacheStatusEntry): CacheResult {
  if (status.hit) return status.detail === "stale-while-revalidate" ? "stale" : "hit";
  if (status.fwd === "stale" && status.detail === "stale-if-error") return "stale";
  if (status.fwd === "method") return "pass";
  if (status.fwd && !(status.fwdStatus !== undefined && status.fwdStatus >= 500 && status.detail !== undefined)) return "miss";
  return "error";
}
