/**
 * fetch: the request to the origin. Builds the forwarded request and runs
 * it through steering, passive health, the retry budget and the per-origin
 * counters of the POP.
 */
import { CLIENT_VALIDATORS, stripHopByHop } from "./http/headers";
import { SURROGATE_CAPABILITY } from "./http/targeted";
import { fetchFromOrigins, type OriginFetchResult } from "./routing/origin-fetch";
import type { Transaction } from "./transaction";

/** Request headers for the origin. A fill drops the client's validators and Range: we want the whole object. */
export function forwardHeaders(tx: Transaction, fill: boolean): Headers {
  const headers = new Headers(tx.request.headers);
  stripHopByHop(headers);
  if (fill) for (const name of CLIENT_VALIDATORS) headers.delete(name);
  // Compression is negotiated at the edge; origins are asked for identity so stored bodies are plain.
  headers.set("accept-encoding", "identity");
  const clientIp = tx.request.headers.get("cf-connecting-ip");
  if (clientIp) headers.set("x-forwarded-for", [tx.request.headers.get("x-forwarded-for"), clientIp].filter(Boolean).join(", "));
  headers.set("x-forwarded-host", tx.url.host);
  headers.set("x-forwarded-proto", tx.url.protocol.replace(":", ""));
  const via = headers.get("via");
  headers.set("via", via ? `${via}, 1.1 ${tx.pop.name}` : `1.1 ${tx.pop.name}`);
  // Tells the origin that Surrogate-Control may target us (W3C Edge Architecture).
  const capability = headers.get("surrogate-capability");
  headers.set("surrogate-capability", capability ? `${capability}, ${SURROGATE_CAPABILITY}` : SURROGATE_CAPABILITY);
  for (const name of [...headers.keys()]) if (name.startsWith("cf-")) headers.delete(name);
  return headers;
}

export async function forward(tx: Transaction, method: string, headers: Headers, body: ReadableStream<Uint8Array> | Uint8Array | null): Promise<OriginFetchResult> {
  const pop = tx.pop;
  const now = Date.now();
  const { ranked } = pop.candidates(tx.site, tx.cf, now);
  pop.counters.originRequests++;
  pop.retryBudget.onRequest(now);
  const result = await fetchFromOrigins(ranked, {
    method,
    headers,
    body,
    timeoutMs: pop.config.originFetch.timeoutMs,
    retries: pop.config.originFetch.retries,
    pathAndQuery: tx.url.pathname + tx.url.search,
    observer: {
      onSend: (id) => {
        pop.outliers.onSend(id, Date.now());
        (pop.originStats[id] ??= { requests: 0, errors: 0 }).requests++;
      },
      onResult: (id, ok, reason) => {
        if (ok) return pop.outliers.onSuccess(id, Date.now());
        pop.originStats[id].errors++;
        pop.outliers.onFailure(id, reason, Date.now());
      },
    },
    mayRetry: () => {
      const allowed = pop.retryBudget.tryRetry(Date.now());
      if (allowed) pop.counters.retries++;
      else pop.counters.retriesDeniedByBudget++;
      return allowed;
    },
  });
  pop.flushReports((p) => tx.ctx.waitUntil(p));
  if (!result.ok || result.response.status >= 500) pop.counters.originErrors++;
  return result;
}

