/**
 * One forward trip to the origins: try the ranked origins in order, each
 * under a time limit on its response headers, moving on after a connect
 * failure or a timeout (only for idempotent methods, and at most `retries`
 * times). Origin HTTP errors are answers, not failures: they are returned.
 */
import type { RankedOrigin } from "./steering";

export type OriginFailure = "connect" | "timeout";

export interface OriginAttempt {
  originId: string;
  outcome: "response" | OriginFailure;
  status?: number;
  ms: number;
}

export type OriginFetchResult =
  | { ok: true; response: Response; originId: string; requestTime: number; responseTime: number; attempts: OriginAttempt[] }
  | { ok: false; failure: OriginFailure | "no-origin"; attempts: OriginAttempt[] };

export interface OriginFetchOptions {
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  timeoutMs: number;
  retries: number;
  /** Path and query to request, e.g. "/index.html?x=1". */
  pathAndQuery: string;
  fetcher?: typeof fetch;
  now?: () => number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

export function originUrl(base: string, pathAndQuery: string): string {
  return base.replace(/\/+$/, "") + pathAndQuery;
}

export async function fetchFromOrigins(candidates: readonly RankedOrigin[], options: OriginFetchOptions): Promise<OriginFetchResult> {
  const fetcher = options.fetcher ?? fetch;
  const now = options.now ?? Date.now;
  const attempts: OriginAttempt[] = [];
  // A body can be sent once only, so requests with one are never retried.
  const maxAttempts = IDEMPOTENT.has(options.method) && options.body === null ? 1 + options.retries : 1;
  let lastFailure: OriginFailure | "no-origin" = "no-origin";
  for (const candidate of candidates.slice(0, maxAttempts)) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), options.timeoutMs);
    const requestTime = now();
    try {
      const response = await fetcher(originUrl(candidate.origin.url, options.pathAndQuery), {
        method: options.method,
        headers: options.headers,
        body: options.body,
        redirect: "manual",
        signal: controller.signal,
      });
      clearTimeout(timer);
      const responseTime = now();
      attempts.push({ originId: candidate.origin.id, outcome: "response", status: response.status, ms: responseTime - requestTime });
      return { ok: true, response, originId: candidate.origin.id, requestTime, responseTime, attempts };
    } catch {
      clearTimeout(timer);
      lastFailure = controller.signal.aborted ? "timeout" : "connect";
      attempts.push({ originId: candidate.origin.id, outcome: lastFailure, ms: now() - requestTime });
    }
  }
  return { ok: false, failure: lastFailure, attempts };
}
