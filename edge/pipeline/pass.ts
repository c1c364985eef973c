/**
 * pass: methods the cache does not answer go to the origin; an unsafe one
 * that succeeds invalidates its targets here, in the colo's other isolates
 * and at the shield (RFC 9111 §4.4); a POST answer that names itself the
 * target's current representation may be stored for later GETs.
 */
import { primaryKey } from "../../common/cache-key";
import { ClientBodyError, guardClientBody, readUpload } from "../body";
import { deliverTo } from "./deliver-stored";
import { forward, forwardHeaders } from "../forward";
import { invalidateAtShields } from "../shield/client";
import { hasExplicitFreshness } from "../http/freshness";
import { SAFE_METHODS } from "../http/methods";
import { governingDirectives } from "../http/targeted";
import type { Transaction } from "../transaction";
import { cacheStatusOf, done, type Step } from "./steps";
import { store } from "./store";
import { unreachable } from "./synth";

/** Request bodies up to this size are buffered so that an idempotent request (PUT, DELETE) can be retried. */
const REPLAYABLE_BODY_BYTES = 64 * 1024;

export async function passState(tx: Transaction): Promise<Step> {
  let body: ReadableStream<Uint8Array> | Uint8Array | null = tx.request.body && guardClientBody(tx.request.body, tx.pop.config.originFetch.uploadIdleTimeoutMs);
  const length = Number(tx.request.headers.get("content-length") ?? NaN);
  if (body && length <= REPLAYABLE_BODY_BYTES) {
    try {
      body = await readUpload(body);
    } catch (err) {
      return unreachable(tx, { ok: false, failure: err instanceof ClientBodyError && err.kind === "idle" ? "client-timeout" : "client", attempts: [] }, "method");
    }
  }
  const result = await forward(tx, tx.request.method, forwardHeaders(tx, false), body);
  if (!result.ok) return unreachable(tx, result, "method");
  const response = result.response;
  if (!SAFE_METHODS.has(tx.request.method) && response.status < 400) await invalidateAfterUnsafe(tx, response.headers);
  // A POST answer that names itself as the current representation of the target, with
  // explicit freshness, may answer later GETs (RFC 9110 §9.3.3, RFC 9111 §3).
  if (tx.request.method === "POST" && postAnswersGet(tx, response)) return store(tx, result, "method");
  const rep = { status: response.status, headers: response.headers, body: response.body, size: undefined };
  return done(deliverTo(tx, rep, { cacheStatus: cacheStatusOf(tx, { fwd: "method", fwdStatus: response.status }), evaluateRequest: false }));
}

function postAnswersGet(tx: Transaction, response: Response): boolean {
  if (response.status !== 200 && response.status !== 203) return false;
  const location = response.headers.get("content-location");
  if (location === null) return false;
  let target: URL;
  try {
    target = new URL(location, tx.url);
  } catch {
    return false;
  }
  if (primaryKey(target, tx.pop.config.cache.key) !== tx.primaryKey) return false;
  return hasExplicitFreshness(response.headers, governingDirectives(response.headers).directives);
}

/** RFC 9111 §4.4: an unsafe request invalidates the target URI and same-origin Location / Content-Location. */
async function invalidateAfterUnsafe(tx: Transaction, headers: Headers): Promise<void> {
  const targets = new Map([[tx.primaryKey, tx.url]]);
  for (const field of ["location", "content-location"]) {
    const value = headers.get(field);
    if (!value) continue;
    let target: URL;
    try {
      target = new URL(value, tx.url);
    } catch {
      continue;
    }
    if (target.host === tx.url.host) targets.set(primaryKey(target, tx.pop.config.cache.key), target);
  }
  const [had] = await Promise.all([
    Promise.all([...targets.keys()].map((key) => tx.pop.tiers.invalidate(key, (p) => tx.ctx.waitUntil(p)))),
    invalidateAtShields(tx, [...targets.values()]),
  ]);
  // The colo's other isolates may hold a copy in memory: they hear of it through the control plane,
  // which this answer waits for (briefly). Nothing cached in the colo: nothing to tell.
  if (had.some(Boolean) && !tx.pop.isShield) await tx.pop.snapshots.invalidate([...targets.keys()]);
}
