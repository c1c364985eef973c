/**
 * rangePass: a Range request for an object too large to store here
 * (cache/too-large.ts) asks the origin, or its shield, which does the same,
 * for that range alone and passes the answer on, stored nowhere: a seek in a
 * 2 GB video moves its range, not the video (Varnish's hit-for-pass;
 * Cloudflare passes a Range through past its cacheable size). The client's
 * Range, If-Range and validators go with it: the origin answers them. A 200
 * (an origin that ignores Range) is evaluated here as a fill's would be.
 */
import { declaredLength } from "../body";
import { forward, forwardHeaders } from "../forward";
import type { Transaction } from "../transaction";
import { deliverTo } from "./deliver-stored";
import { cacheStatusOf, done, type Step, type StepTo } from "./steps";
import { unreachable } from "./synth";

export async function rangePassState(tx: Transaction, step: StepTo<"rangePass">): Promise<Step> {
  const result = await forward(tx, "GET", forwardHeaders(tx, false), null);
  if (!result.ok) return unreachable(tx, result, step.reason);
  const response = result.response;
  const cacheStatus = cacheStatusOf(tx, {
    fwd: step.reason,
    fwdStatus: response.status,
    detail: tx.pop.config.debug ? "too-large" : result.shieldBypass,
    upstream: response.headers.get("cache-status") ?? undefined,
  });
  const rep = { status: response.status, headers: response.headers, body: response.body, size: declaredLength(response.headers) };
  return done(deliverTo(tx, rep, { cacheStatus, evaluateRequest: response.status === 200 }));
}
