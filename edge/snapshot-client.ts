/**
 * The POP's copy of the control plane's snapshot. A request never waits for
 * it except on a cold start (and then only briefly); afterwards it is
 * refreshed in the background, and when the control plane cannot be reached
 * the POP keeps serving from the last snapshot it had.
 */
import { EMPTY_SNAPSHOT, type Snapshot } from "../common/snapshot";
import { decodeCatchUp, type DecodedCatchUp } from "../common/catch-up";
import { waitAtMost } from "./wait";
import { fullJitterBackoffMs } from "../common/backoff";
import { answerLines } from "./answer-lines";
import { RateLimiter } from "../common/rate-limit";
import { heldConfigVersion, holdConfig } from "../common/config-source";
import { INVALIDATION_WAIT_MS, type Invalidation, type PopMetrics, type Report, type ReportEvent, type SyncMode, type SyncReport, type SyncRequest } from "../common/wire";

export type { SyncMode } from "../common/wire";

export interface SnapshotClientOptions {
  /** The CONTROL binding (a service binding on Cloudflare and locally alike). */
  control: Fetcher | undefined;
  controlHost: string;
  popToken: string | undefined;
  popName: string;
  /**
   * This isolate's id (the control plane keeps each isolate of a POP apart,
   * then sums them), renewed after a long silence (see isolate-identity.ts).
   */
  identity: { readonly id: string; renewIfSilent(silentMs: number): void };
  refreshMs: number;
  coldStartWaitMs: number;
  /**
   * How long the control plane may hold a sync waiting for news (a long
   * poll); 0: interval polling only. Must stay inside the platform's limit on
   * work after a response (waitUntil: 30 s on Cloudflare).
   */
  longPollMs: number;
  /** What the POP reports with each sync: purge sequence applied, and its figures. */
  syncReport: () => Omit<SyncReport, "pop" | "have" | "mode">;
  /** Its figures alone, sent between held syncs every metricsReportMs (0: never). */
  metrics: () => PopMetrics;
  metricsReportMs: number;
  /**
   * Called with each newer snapshot before it becomes current (to apply purge
   * rules), with the control plane's clock minus ours and the uncertainty of
   * that; returns the highest purge sequence now applied.
   */
  onSnapshot: (next: Snapshot, clockOffsetMs: number, uncertaintyMs: number) => number;
  /** Called with the folded catch-up a sync sent this isolate to (before that sync's onSnapshot), with the same clock reading. */
  onCatchUp: (catchUp: DecodedCatchUp, clockOffsetMs: number, uncertaintyMs: number) => void;
  /** Dice for the backoff's jitter; Math.random unless a test fixes them. */
  random?: () => number;
}

/**
 * Invalidations an isolate tells the control plane per minute at most (each becomes a purge rule);
 * past it, an unsafe request invalidates this isolate, the colo's Cache API and the shield only.
 */
const INVALIDATIONS_PER_MINUTE = 120;

/** Pages of purge rules one refresh may fetch (a page is up to 2,000 rules). */
const MAX_PAGES_PER_REFRESH = 50;

/** A POP that has not synced for this many refresh intervals waits for a sync before answering. */
const IDLE_FACTOR = 3;
/**
 * After a failed sync (the control plane refused, overloaded, went away or did not answer) the
 * next waits a random share of a ceiling that doubles with each failure in a row, up to this long
 * ("full jitter"), and never less than refreshMs. The first ceiling is the spread the control
 * plane named in its last answer (it grows with the isolates it serves: control/retry-spread.ts),
 * else two intervals. So when the object goes away and every held sync breaks at once, their
 * retries come back at a rate the object takes, not all within a second or two
 * (`npm run bench -- --only scale`, outage).
 */
const MAX_BACKOFF_MS = 60_000;
/** The longest the folded catch-up may take to arrive (about 1 MiB at a busy site's volume). */
const CATCH_UP_TIMEOUT_MS = 10_000;
/** The longest a figure report waits inside a request's waitUntil (Cloudflare ends it 30 s after the response). */
const PUSH_WAIT_MAX_MS = 25_000;
/** A passive-health report that fails is sent again after 1 s, then 2 s (report). */
const [REPORT_RETRY_MS, REPORT_RETRIES] = [1000, 2];

/** The control plane's refusal of a sync (overloaded, or an error), with how long it asked us to wait. */
class SyncRefused extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number,
  ) {
    super(`control plane answered ${status}`);
  }
}

export class SnapshotClient {
  private current: Snapshot = EMPTY_SNAPSHOT;
  private fetchedAt = 0;
  private inflight: Promise<void> | undefined;
  /** The held sync in flight, if any: while it is held, this isolate hears of news at once. */
  private held: Promise<void> | undefined;
  /** Failed syncs in a row, and when the next may be tried. */
  private failures = 0;
  private retryAt = 0;
  lastError: string | undefined;
  lastSyncAt = 0;
  /** When the control plane last answered a sync (a page of one included). */
  private answeredAt = 0;
  /** When figures last left for the control plane (with a sync or on their own). */
  private figuresSentAt = 0;
  private pushing: Promise<void> | undefined;
  /** A request came while a report was scheduled or on its way: the figures it took may miss it. */
  private figuresMovedSincePush = false;

  /** Invalidations told to the control plane, at most INVALIDATIONS_PER_MINUTE. */
  private readonly invalidations = new RateLimiter(INVALIDATIONS_PER_MINUTE);

  constructor(private readonly options: SnapshotClientOptions) {}

  get snapshot(): Snapshot {
    return this.current;
  }

  /** Long polls unless they are off. */
  mode(): SyncMode {
    return this.options.longPollMs > 0 ? "long-poll" : "poll";
  }

  /**
   * A failed sync: the next waits out a jittered exponential backoff (or the control plane's
   * Retry-After), counted from the failure. `startedAt` is when the sync began in the caller's
   * clock; a held sync may fail 20 s after it was armed (an object that went away breaks every
   * held sync at once), and a backoff counted from the arming would be over already: every
   * isolate would ask again at once.
   */
  private backOff(err: unknown, startedAt: number, startedAtReal: number): void {
    this.failures++;
    const firstCeilingMs = Math.max(this.options.refreshMs, this.current.retrySpreadMs ?? 2 * this.options.refreshMs);
    const backoff = fullJitterBackoffMs(this.failures, { firstCeilingMs, maxMs: MAX_BACKOFF_MS, floorMs: this.options.refreshMs }, this.options.random);
    const failedAt = startedAt + Math.max(0, Date.now() - startedAtReal);
    this.retryAt = failedAt + Math.max(backoff, err instanceof SyncRefused ? err.retryAfterMs : 0);
  }

  private recovered(): void {
    this.failures = 0;
    this.retryAt = 0;
    this.lastError = undefined;
  }

  /**
   * The snapshot to use for this request. Cold, or idle (no held sync, and
   * none answered for IDLE_FACTOR refresh intervals: a purge may have come
   * meanwhile): wait for a sync, at most coldStartWaitMs (the returned
   * promise). Warm: undefined, and the hit path stays synchronous; a held sync
   * is armed behind the request if none is (long-poll mode), or a refresh runs
   * when due (poll mode).
   */
  forRequest(waitUntil: (p: Promise<unknown>) => void, now: number): Promise<void> | undefined {
    if (!this.options.control) return undefined;
    const age = now - this.fetchedAt;
    const longPoll = this.mode() === "long-poll";
    if (this.options.metricsReportMs > 0) {
      // A report already on its way left with figures from before this request: it sends again after.
      if (this.pushing) this.figuresMovedSincePush = true;
      else {
        const push = this.schedulePush(now);
        if (push) waitUntil(push);
      }
    }
    // Backing off after failures: the last snapshot serves; no request waits on a control plane in trouble.
    if (now < this.retryAt) return undefined;
    // Idle, a request waits for news; not while the control plane is failing (the wait would
    // end in the same failure): the retry runs behind it.
    if (this.fetchedAt === 0 || (!this.held && age >= this.options.refreshMs * IDLE_FACTOR && this.failures === 0)) {
      const sync = this.refresh(now);
      waitUntil(sync);
      if (longPoll) waitUntil(sync.then(() => (now >= this.retryAt ? this.armLongPoll(now) : undefined)));
      return waitAtMost(sync, this.options.coldStartWaitMs, undefined);
    }
    if (longPoll) {
      if (!this.held && !this.inflight) waitUntil(this.armLongPoll(now));
    } else if (age >= this.options.refreshMs) waitUntil(this.refresh(now));
    return undefined;
  }

  /** One held sync; its answer is applied at once, and the next request arms the next one. */
  private armLongPoll(now: number): Promise<void> {
    if (this.held) return this.held;
    const armedAt = Date.now();
    this.held = (async () => {
      try {
        let behind = await this.syncOnce(this.options.longPollMs);
        for (let page = 1; behind && page < MAX_PAGES_PER_REFRESH; page++) behind = await this.syncOnce(0);
        this.recovered();
        this.lastSyncAt = this.fetchedAt = Date.now();
      } catch (err) {
        this.backOff(err, now, armedAt);
        this.lastError = `held sync failed: ${(err as Error).message}`;
      } finally {
        this.held = undefined;
      }
    })();
    return this.held;
  }

  /**
   * Sends the figures metricsReportMs after they last left (with a sync or alone), so that the figures
   * at the end of a burst arrive too, without waiting for the next request; again while requests came
   * during a report, or it failed. It all waits in this request's waitUntil, which the platform ends
   * 30 s after the response: a report due later than PUSH_WAIT_MAX_MS from now is left to a later
   * request (an isolate that falls idle then keeps its last figures until its next request).
   */
  private schedulePush(now: number): Promise<void> | undefined {
    const delay = Math.max(0, this.figuresSentAt + this.options.metricsReportMs - now);
    if (delay > PUSH_WAIT_MAX_MS) return undefined;
    const lastStartAt = now + PUSH_WAIT_MAX_MS;
    this.pushing = (async () => {
      for (let wait = delay; ; ) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        this.figuresSentAt = Date.now();
        this.figuresMovedSincePush = false;
        const sent = await this.post({ pop: this.options.popName, isolate: this.options.identity.id, events: [], metrics: this.options.metrics() });
        wait = Math.max(0, this.figuresSentAt + this.options.metricsReportMs - Date.now());
        if ((sent && !this.figuresMovedSincePush) || Date.now() + wait > lastStartAt) break;
      }
    })().finally(() => {
      this.pushing = undefined;
    });
    return this.pushing;
  }

  /**
   * Tells the control plane what an unsafe request invalidated here, for the
   * colo's other isolates (whose memory may hold a copy) and every other POP;
   * resolves once the colo has it, or the wait is over (then the others apply
   * it within a sync).
   */
  async invalidate(keys: string[]): Promise<boolean> {
    if (!this.options.control || keys.length === 0) return true;
    // Each is a purge rule at the control plane: a flood of unsafe requests must not become a purge flood.
    if (!this.invalidations.take("all", Date.now()).ok) return false;
    try {
      const response = await this.postJson(
        "/v1/invalidations",
        { pop: this.options.popName, isolate: this.options.identity.id, keys } satisfies Invalidation,
        INVALIDATION_WAIT_MS + 1000,
      );
      if (!response.ok) {
        await response.body?.cancel();
        return false;
      }
      return ((await response.json()) as { reachedColo?: boolean }).reachedColo === true;
    } catch {
      return false;
    }
  }

  /** The POP token, as the control plane's internal routes take it. */
  private authorization(): Record<string, string> {
    return this.options.popToken ? { authorization: `Bearer ${this.options.popToken}` } : {};
  }

  /** A GET of what a sync pointed to (the held configuration, the catch-up), within `timeoutMs`; a refusal throws. */
  private async getFromControl(path: string, timeoutMs: number): Promise<Response> {
    const response = await this.options.control!.fetch(`https://${this.options.controlHost}${path}`, {
      headers: this.authorization(),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.ok) return response;
    await response.body?.cancel();
    throw new SyncRefused(response.status, 0);
  }

  /** A JSON POST to the control plane, through the CONTROL binding, within `timeoutMs`. */
  private postJson(path: string, body: unknown, timeoutMs: number): Promise<Response> {
    return this.options.control!.fetch(`https://${this.options.controlHost}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.authorization() },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  /**
   * Sends passive-health events (every POP learns of an ejection from them), again after 1 s and 2 s when
   * a try fails, in the request's waitUntil; false when none got through (kept for the next request).
   */
  async report(events: ReportEvent[]): Promise<boolean> {
    if (!this.options.control || events.length === 0) return true;
    const report = { pop: this.options.popName, isolate: this.options.identity.id, events };
    for (let attempt = 0; ; attempt++) {
      if (await this.post(report)) return true;
      if (attempt === REPORT_RETRIES) return false;
      await new Promise((resolve) => setTimeout(resolve, REPORT_RETRY_MS * 2 ** attempt));
    }
  }

  private async post(body: Report): Promise<boolean> {
    if (!this.options.control) return true;
    try {
      const response = await this.postJson("/v1/reports", body, 2000);
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }

  /**
   * One sync, held up to `waitMs` by the control plane when there is no news;
   * true when the control plane holds purge rules this POP has not applied yet.
   */
  private async syncOnce(waitMs = 0): Promise<boolean> {
    const sentAt = Date.now();
    this.figuresSentAt = sentAt;
    if (this.answeredAt > 0) this.options.identity.renewIfSilent(sentAt - this.answeredAt);
    const request: SyncRequest = {
      pop: this.options.popName,
      isolate: this.options.identity.id,
      have: this.current.version,
      mode: this.mode(),
      ...(waitMs > 0 ? { wait: waitMs } : {}),
      ...this.options.syncReport(),
    };
    const response = await this.postJson("/v1/sync", request, waitMs + 2000);
    if (!response.ok) {
      await response.body?.cancel();
      const retryAfter = Number(response.headers.get("retry-after"));
      throw new SyncRefused(response.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0);
    }
    // A relay streams each news as it comes, on one held sync (control/relay.ts): each answer is applied on arrival.
    let answered = false;
    let behind = false;
    for await (const next of answerLines(response.body)) {
      behind = await this.takeAnswer(next as Snapshot, sentAt, waitMs > 0 || answered);
      answered = true;
    }
    if (!answered) throw new Error("control plane sent no snapshot");
    return behind;
  }

  /** One answer to a sync, applied; true when the control plane holds purge rules this isolate has not applied yet. */
  private async takeAnswer(next: Snapshot, sentAt: number, held: boolean): Promise<boolean> {
    const receivedAt = Date.now();
    this.answeredAt = receivedAt;
    if (typeof next.version !== "number") throw new Error("control plane sent no snapshot version");
    // A held answer's round trip includes the hold: its clock reading is taken from its end.
    const roundTrip = held ? Math.min(receivedAt - sentAt, 50) : receivedAt - sentAt;
    // The control plane holds another configuration than this isolate runs: fetch it (the next request runs it).
    if ((next.configVersion ?? 0) !== heldConfigVersion()) await this.fetchConfig(next.configVersion ?? 0);
    const clockOffsetMs = next.generatedAt - (receivedAt - roundTrip / 2);
    if (next.catchUp) await this.fetchCatchUp(next, clockOffsetMs, roundTrip / 2);
    const applied = this.options.onSnapshot(next, clockOffsetMs, roundTrip / 2);
    // A new epoch is a control plane that started over: its versions count from 1 again.
    if (next.version >= this.current.version || next.purgeEpoch !== this.current.purgeEpoch) this.current = next;
    return (next.purges.length > 0 || next.catchUp === true) && applied < next.purgeSeq;
  }

  /** The folded catch-up a sync sent this isolate to: every rule in force, applied at once; then it pages on from there. */
  private async fetchCatchUp(next: Snapshot, clockOffsetMs: number, uncertaintyMs: number): Promise<void> {
    // Its epoch and position name the answer the colo's other isolates may share (control/colo-catch-up.ts).
    const position = next.purgeEpoch === undefined ? "" : `&epoch=${encodeURIComponent(next.purgeEpoch)}&after=${next.purgeSeq}`;
    const query = `?pop=${encodeURIComponent(this.options.popName)}${position}`;
    const response = await this.getFromControl(`/v1/sync/catch-up${query}`, CATCH_UP_TIMEOUT_MS);
    const catchUp = decodeCatchUp(new Uint8Array(await response.arrayBuffer()));
    if (next.purgeEpoch !== undefined && catchUp.header.epoch !== next.purgeEpoch) throw new Error("the catch-up belongs to another purge epoch");
    this.options.onCatchUp(catchUp, clockOffsetMs, uncertaintyMs);
  }

  /** The control plane's configuration `version` (0: none, back to the variable), held for this isolate. */
  private async fetchConfig(version: number): Promise<void> {
    if (version === 0) return holdConfig(0, undefined);
    // Through its region's relay, which fetches each version once for the region.
    const response = await this.getFromControl(`/v1/sync/config?pop=${encodeURIComponent(this.options.popName)}`, 5000);
    const held = (await response.json()) as { version: number; text?: string };
    holdConfig(held.version, held.text);
  }

  refresh(now: number): Promise<void> {
    if (this.inflight) return this.inflight;
    const control = this.options.control;
    if (!control) return Promise.resolve();
    this.fetchedAt = now; // a failed attempt also waits refreshMs before the next one
    const startedAt = Date.now();
    this.inflight = (async () => {
      try {
        // A POP far behind (new, or back after an outage) gets rules in pages: it asks again at once.
        for (let page = 0; page < MAX_PAGES_PER_REFRESH; page++) {
          const behind = await this.syncOnce();
          if (!behind) break;
        }
        this.recovered();
        this.lastSyncAt = Date.now();
      } catch (err) {
        this.backOff(err, now, startedAt);
        this.lastError = `control plane unreachable: ${(err as Error).message}`;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}
