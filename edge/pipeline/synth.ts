/**
 * synth: the answers of our own, in one place: errors a client can retry
 * (with Retry-After and Cache-Status), refusals, only-if-cached. A failure
 * of ours ends here as a clear status, never the runtime's bare 500.
 */
import { OriginBodyError } from "../body";
import { DecodeLimitError } from "../compress/decode";
import { errorResponse } from "../errors";
import type { ForwardReason } from "../http/cache-status";
import type { OriginFetchResult, TripFailure } from "../routing/origin-fetch";
import type { Transaction } from "../transaction";
import { deliverTo } from "./deliver-stored";
import { cacheStatusOf, done, type Step, type StepTo, type Synth } from "./steps";

export function synthState(tx: Transaction, step: StepTo<"synth">): Step {
  return done(synthesize(tx, step.answer));
}

export function synthesize(tx: Transaction, answer: Synth): Response {
  const response = errorResponse(answer.status, answer.message, answer.extra);
  if (answer.retryAfter !== undefined) {
    response.headers.set("retry-after", String(answer.retryAfter));
    response.headers.set("cache-control", "no-store");
  }
  return deliverTo(tx, { status: response.status, headers: response.headers, body: response.body, size: undefined }, { cacheStatus: answer.cacheStatus, evaluateRequest: false });
}

const synth = (answer: Synth): Step => ({ to: "synth", answer });

export function failureStatus(failure: TripFailure): number {
  if (failure === "client") return 400;
  if (failure === "client-timeout") return 408;
  return failure === "timeout" ? 504 : failure === "no-origin" || failure === "overflow" ? 503 : 502;
}

/** No origin answered: a short, clear error the client can retry. */
export function unreachable(tx: Transaction, result: Extract<OriginFetchResult, { ok: false }>, reason: ForwardReason): Step {
  if (result.failure === "client")
    return synth({ status: 400, message: "the request body could not be read", cacheStatus: cacheStatusOf(tx, { fwd: reason, detail: "client-aborted" }) });
  if (result.failure === "client-timeout") {
    const message = `the request body stopped arriving (no bytes for ${tx.pop.config.originFetch.uploadIdleTimeoutMs} ms)`;
    return synth({ status: 408, message, cacheStatus: cacheStatusOf(tx, { fwd: reason, detail: "client-timeout" }) });
  }
  // When no origin of the site is left healthy, the site is unavailable (503), not one bad gateway.
  const noneHealthy = result.failure === "no-origin" || tx.pop.candidates(tx.site, tx.cf, Date.now()).healthy === 0;
  const status = noneHealthy ? 503 : failureStatus(result.failure);
  const message = noneHealthy
    ? "no healthy origin"
    : result.failure === "timeout"
      ? "origin timed out"
      : result.failure === "invalid"
        ? "origin sent an invalid response"
        : result.failure === "overflow"
          ? "every origin has as many requests waiting as this CDN sends it"
          : "origin unreachable";
  // Which origins were tried is internal: the client learns it only with debug on.
  const extra = tx.pop.config.debug ? { attempts: result.attempts.map((a) => ({ origin: a.originId, outcome: a.outcome, ms: a.ms })) } : {};
  return synth({ status, message, extra, retryAfter: 5, cacheStatus: cacheStatusOf(tx, { fwd: reason, fwdStatus: status, detail: result.failure }) });
}

/** The origin's body failed and no stale copy may stand in: 504 stalled, 502 broken or a bomb. */
export function bodyFailed(tx: Transaction, err: unknown, reason: ForwardReason): Step {
  const stalled = err instanceof OriginBodyError && err.kind === "stalled";
  const bomb = err instanceof DecodeLimitError;
  const status = stalled ? 504 : 502;
  const message = stalled ? "origin stopped sending the response" : bomb ? "origin response decodes to more than this CDN accepts" : "origin response broke off";
  const detail = stalled ? "body-stalled" : bomb ? "decode-limit" : "body-broken";
  return synth({ status, message, retryAfter: 5, cacheStatus: cacheStatusOf(tx, { fwd: reason, fwdStatus: status, detail }) });
}

/** only-if-cached with nothing fresh stored (RFC 9111 §5.2.1.7). */
export function onlyIfCachedMiss(tx: Transaction, reason: ForwardReason, what: string): Step {
  return synth({ status: 504, message: `only-if-cached: ${what}`, cacheStatus: cacheStatusOf(tx, { fwd: reason }) });
}
