/**
 * A POP's own status page: counters, tier sizes, and how fresh its snapshot
 * of the control plane is. It names origins and their failures, which are no
 * business of a site's visitors: it answers on customer hosts only to a
 * control API token with the `read` scope (the same tokens, the same check).
 */
import { RESERVED_PATH_PREFIX } from "../common/cache-key";
import { grants } from "../common/auth";
import { errorResponse } from "./errors";
import type { Pop } from "./pop";

export const STATUS_PATH = `${RESERVED_PATH_PREFIX}status`;

export function statusResponse(pop: Pop, request: Request): Response {
  const grant = pop.tokens.authenticate(request.headers.get("authorization"));
  if (!grant || !grants(grant, "read")) {
    // Guessing tokens here is limited per address as it is at the control API.
    const address = request.headers.get("cf-connecting-ip") ?? "unknown";
    const verdict = pop.failedAuthentications.take(address, Date.now());
    if (!verdict.ok) {
      const limited = errorResponse(429, "too many failed authentications from this address", { retryAfterSeconds: verdict.retryAfterSeconds });
      limited.headers.set("retry-after", String(verdict.retryAfterSeconds));
      return limited;
    }
    const denied = errorResponse(401, "the status page needs a control API token with the read scope");
    denied.headers.set("www-authenticate", 'Bearer realm="outpost"');
    return denied;
  }
  const snapshot = pop.snapshots.snapshot;
  const body = {
    pop: pop.name,
    /** This isolate's id (a POP runs several; the control plane shows their sum). */
    isolate: pop.identity.id,
    uptimeSeconds: Math.floor((Date.now() - pop.startedAt) / 1000),
    counters: pop.counters,
    memoryTier: { entries: pop.memory.size, bytes: pop.memory.bytes },
    codings: pop.codings,
    origins: pop.outliers.view(Date.now()),
    health: snapshot.health,
    purgeRules: { inForce: pop.purges.size, highestSeq: pop.purges.highestSeq, lastApplied: pop.lastPurgeApplied ?? null },
    snapshot: { version: snapshot.version, mode: pop.snapshots.mode(), lastSyncAt: pop.snapshots.lastSyncAt || null, lastError: pop.snapshots.lastError ?? null },
  };
  return new Response(`${JSON.stringify(body, null, 2)}\n`, {
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}
