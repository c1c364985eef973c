/**
 * What the pipeline's states share about one client request.
 */
import type { Timing } from "./deliver";
import type { SiteConfig } from "../common/config";
import type { CacheDirectives } from "./http/cache-control";
import type { Pop } from "./pop";

/** Everything the states share about one client request. */
export interface Transaction {
  pop: Pop;
  request: Request;
  url: URL;
  site: SiteConfig;
  ctx: ExecutionContext;
  primaryKey: string;
  requestDirectives: CacheDirectives;
  pragmaNoCache: boolean;
  cf: IncomingRequestCfProperties | undefined;
  /** For Server-Timing. */
  timing: Timing;
  /**
   * When this request's answer must have its status line, ms since the epoch
   * (originFetch.deadlineMs, or what the POP left a shard): every trip forward
   * and every wait shares it. Infinity for requests with a body: an upload is
   * the client's time, bounded by its idle timeout instead.
   */
  deadline: number;
}

/** Milliseconds left of the request's budget (0 when spent), at most `cap`. */
export function budgetLeft(tx: Transaction, cap = Infinity, now = Date.now()): number {
  return Math.max(0, Math.min(cap, tx.deadline - now));
}
