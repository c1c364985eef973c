/**
 * One forward trip to the origins: try the ranked origins in order, each
 * under a time limit on its response headers, moving on after a connect
 * failure or a timeout (only for idempotent methods, and at most `retries`
 * times). Origin HTTP errors are answers, not failures: they are returned.
 */
import { IDEMPOTENT_METHODS, SAFE_METHODS } from "../http/methods";
import { ZONE_CACHE_BYPASS } from "../../common/http/zone-cache";
import type { RankedOrigin } from "./steering";
import { finalResponseAfterInterim } from "./interim";
import { ClientBodyError } from "../body";

/**
 * client: the client's own upload failed or was aborted; never the origin's fault.
 * client-timeout: the client's upload stopped arriving (see guardClientBody).
 * invalid: an answer that is not HTTP (a status outside 1xx-5xx), which no Response can carry on.
 */
export type OriginFailure = "connect" | "timeout" | "client" | "client-timeout" | "invalid";

export interface OriginAttempt {
  originId: string;
  outcome: "response" | OriginFailure;
  status?: number;
  ms: number;
}

/**
 * Why a trip got no answer: an attempt's failure; no origin to try; or every origin it could try
 * had as many requests waiting on it as it may (overflow: circuit breaking, origin-slots.ts).
 */
export type TripFailure = OriginFailure | "no-origin" | "overflow";

export type OriginFetchResult =
  | { ok: true; response: Response; originId: string; requestTime: number; responseTime: number; attempts: OriginAttempt[] }
  | { ok: false; failure: TripFailure; attempts: OriginAttempt[] };

export interface OriginFetchOptions {
  method: string;
  headers: Headers;
  /** Bytes can be replayed on a retry; a stream cannot. */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  timeoutMs: number;
  /** No attempt waits past this, ms since the epoch (the request's budget); Infinity when unbounded. */
  deadline?: number;
  retries: number;
  /** Path and query to request, e.g. "/index.html?x=1". */
  pathAndQuery: string;
  fetcher?: typeof fetch;
  now?: () => number;
  /** Told of every attempt, so passive health can count successes and failures. */
  observer?: AttemptObserver;
  /** Asked before each retry: false when the retry budget is spent. */
  mayRetry?: () => boolean;
  /**
   * A slot for a request to this origin, as its release (called once its status line has come or
   * it has failed); undefined when the origin has as many requests waiting as it may: it is passed
   * over, untried, and no retry is spent on it (circuit breaking).
   */
  slotFor?: (origin: RankedOrigin["origin"]) => (() => void) | undefined;
}

export interface AttemptObserver {
  onSend(originId: string): void;
  /**
   * Failure means refused, timed out, or a 502/503/504 answer. Any other answer
   * with a body is not reported here: its body decides, and the caller reports it.
   */
  onResult(originId: string, ok: boolean, reason: string): void;
  /** The attempt ended for a reason of ours (the request's budget ran out): neither success nor failure. */
  onAbandoned?(originId: string): void;
}

/**
 * Cloudflare's own answers for an origin it could not get an answer from, which a Worker's fetch
 * returns where workerd throws: the origin refused (521), did not connect in time (522), was
 * unreachable (523), TLS failed (525, 526), DNS failed (530); or it connected and then the answer
 * never came or could not be read (520, 524, 527). Failures, never the origin's answer.
 * https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/
 */
const CLOUDFLARE_NOT_CONNECTED = new Set([521, 522, 523, 525, 526, 530]);
const CLOUDFLARE_NO_ANSWER = new Set([520, 524, 527]);

/** The failure a Cloudflare 52x stands for, or undefined for any other status. */
export function cloudflareFailure(status: number): "connect" | "timeout" | undefined {
  if (CLOUDFLARE_NOT_CONNECTED.has(status)) return "connect";
  if (CLOUDFLARE_NO_ANSWER.has(status)) return "timeout";
  return undefined;
}

/** Statuses that count against an origin's health (Envoy's consecutive_gateway_failure). */
const GATEWAY_FAILURES = new Set([502, 503, 504]);

export function isGatewayFailure(status: number): boolean {
  return GATEWAY_FAILURES.has(status);
}

/** A request body that says when it has been sent whole, and whether the client's side of it failed. */
function trackUpload(body: OriginFetchOptions["body"]): { body: OriginFetchOptions["body"]; sent: Promise<void>; failed: () => "client" | "client-timeout" | undefined } {
  if (!(body instanceof ReadableStream)) return { body, sent: Promise.resolve(), failed: () => undefined };
  let failed: "client" | "client-timeout" | undefined;
  let markSent!: () => void;
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const reader = body.getReader();
  const tracked = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          markSent();
        } else controller.enqueue(value);
      } catch (err) {
        failed = err instanceof ClientBodyError && err.kind === "idle" ? "client-timeout" : "client";
        controller.error(err);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { body: tracked, sent, failed: () => failed };
}

export function originUrl(base: string, pathAndQuery: string): string {
  return base.replace(/\/+$/, "") + pathAndQuery;
}

/** What one attempt came to: the trip's result (an answer, or the client's failure), or a failure to try past. */
type AttemptOutcome = { done: OriginFetchResult } | { failed: OriginFailure };

interface AnswerContext {
  id: string;
  requestTime: number;
  responseTime: number;
  uploadFailed: "client" | "client-timeout" | undefined;
  attempts: OriginAttempt[];
  observer: AttemptObserver | undefined;
}

/** What an origin's answer makes of the attempt: the trip's result, or a failure to try past. */
async function judgeAnswer(response: Response, at: AnswerContext): Promise<AttemptOutcome> {
  const { id, attempts, observer } = at;
  const ms = at.responseTime - at.requestTime;
  if (at.uploadFailed) {
    // The runtime may end a failed upload as if it were whole: the origin answered a request it never had.
    await response.body?.cancel().catch(() => undefined);
    attempts.push({ originId: id, outcome: at.uploadFailed, ms });
    observer?.onAbandoned?.(id);
    return { done: { ok: false, failure: at.uploadFailed, attempts } };
  }
  const failure = cloudflareFailure(response.status);
  if (failure) {
    await response.body?.cancel().catch(() => undefined);
    attempts.push({ originId: id, outcome: failure, status: response.status, ms });
    observer?.onResult(id, false, `Cloudflare ${response.status}: the origin ${failure === "connect" ? "could not be reached" : "did not answer"}`);
    return { failed: failure };
  }
  if (response.status > 599) {
    await response.body?.cancel().catch(() => undefined);
    attempts.push({ originId: id, outcome: "invalid", status: response.status, ms });
    observer?.onResult(id, false, `status ${response.status} is not an HTTP status`);
    return { failed: "invalid" };
  }
  attempts.push({ originId: id, outcome: "response", status: response.status, ms });
  // Gateway failures say the origin is in trouble; a 500 is more often one broken page. An
  // answer with a body succeeds only once that body has arrived whole (the caller reports it).
  const healthy = !GATEWAY_FAILURES.has(response.status);
  if (!healthy || response.body === null) observer?.onResult(id, healthy, `status ${response.status}`);
  return { done: { ok: true, response, originId: id, requestTime: at.requestTime, responseTime: at.responseTime, attempts } };
}

/** One origin, under its own timeout or what is left of the request's budget (`leftMs`), whichever is shorter. */
async function attemptOrigin(candidate: RankedOrigin, options: OriginFetchOptions, leftMs: number, attempts: OriginAttempt[]): Promise<AttemptOutcome> {
  const fetcher = options.fetcher ?? fetch;
  const now = options.now ?? Date.now;
  const id = candidate.origin.id;
  options.observer?.onSend(id);
  const controller = new AbortController();
  const ownTimeoutMs = candidate.origin.timeoutMs ?? options.timeoutMs;
  const timeoutMs = Math.min(ownTimeoutMs, leftMs);
  // Cut short by the request's budget, not by the origin's own timeout: not held against it.
  const cutByDeadline = timeoutMs < ownTimeoutMs;
  // The origin's clock starts once the request has left us: a slow client's upload is
  // the client's time, not the origin's.
  const upload = trackUpload(options.body);
  let timer: ReturnType<typeof setTimeout> | undefined;
  void upload.sent.then(
    () => (timer = setTimeout(() => controller.abort(), timeoutMs)),
    () => undefined,
  );
  const requestTime = now();
  try {
    let response = await fetcher(originUrl(candidate.origin.url, options.pathAndQuery), {
      method: options.method,
      headers: options.headers,
      body: upload.body,
      redirect: "manual",
      // Never through the zone's own cache, which our purges do not reach (common/http/zone-cache.ts).
      ...ZONE_CACHE_BYPASS,
      signal: controller.signal,
    });
    // An interim answer is not the response (see interim.ts); the final one follows it.
    if (response.status < 200) response = await finalResponseAfterInterim(response);
    clearTimeout(timer);
    return await judgeAnswer(response, { id, requestTime, responseTime: now(), uploadFailed: upload.failed(), attempts, observer: options.observer });
  } catch {
    clearTimeout(timer);
    const clientFailure = upload.failed();
    if (clientFailure) {
      // The client went away or went quiet mid-upload: nothing to hold against the origin, nothing to retry.
      attempts.push({ originId: id, outcome: clientFailure, ms: now() - requestTime });
      return { done: { ok: false, failure: clientFailure, attempts } };
    }
    const failure = controller.signal.aborted ? "timeout" : "connect";
    attempts.push({ originId: id, outcome: failure, ms: now() - requestTime });
    if (failure === "timeout" && cutByDeadline) options.observer?.onAbandoned?.(id);
    else options.observer?.onResult(id, false, failure === "timeout" ? `no response within ${timeoutMs} ms` : "connection failed");
    return { failed: failure };
  }
}

export async function fetchFromOrigins(candidates: readonly RankedOrigin[], options: OriginFetchOptions): Promise<OriginFetchResult> {
  const now = options.now ?? Date.now;
  const attempts: OriginAttempt[] = [];
  // A streamed body can be sent once only; a buffered one (bytes) can be sent again.
  const replayable = options.body === null || options.body instanceof Uint8Array;
  const maxAttempts = IDEMPOTENT_METHODS.has(options.method) && replayable ? 1 + options.retries : 1;
  let lastFailure: TripFailure = "no-origin";
  let lastTried: RankedOrigin | undefined;
  let next = 0;
  for (let attempt = 0; attempt < maxAttempts; ) {
    // With no next origin, a safe request whose connection failed (often a
    // pooled one the origin had just closed) is tried once more on the same
    // origin. Not a request with a body: the origin may have acted on it
    // already. Not after a timeout: the client has waited long enough.
    const sameAgain: boolean = lastFailure === "connect" && next === candidates.length && SAFE_METHODS.has(options.method);
    const candidate: RankedOrigin | undefined = candidates[next] ?? (sameAgain ? lastTried : undefined);
    next++;
    if (!candidate) break;
    const left = (options.deadline ?? Infinity) - now();
    if (left <= 0) {
      lastFailure = "timeout";
      break;
    }
    const release = options.slotFor ? options.slotFor(candidate.origin) : () => undefined;
    if (!release) {
      // Full: the next origin, untried; the trip fails as overflow only if no attempt failed otherwise.
      if (lastFailure === "no-origin") lastFailure = "overflow";
      continue;
    }
    if (attempt > 0 && options.mayRetry && !options.mayRetry()) {
      release();
      break;
    }
    attempt++;
    lastTried = candidate;
    const outcome: AttemptOutcome = await attemptOrigin(candidate, options, left, attempts).finally(release);
    if ("done" in outcome) return outcome.done;
    lastFailure = outcome.failed;
  }
  return { ok: false, failure: lastFailure, attempts };
}
