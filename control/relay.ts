/**
 * A regional relay: the object (one per Durable Object location hint) that
 * holds the syncs of every isolate in its region, so that the load on the
 * global control object grows with regions, not isolates. Pure: the Durable
 * Object (control/relay-object.ts) gives it its upstream, the global object.
 *
 * An isolate's held sync is a stream: each news goes down it as one answer
 * the moment the relay has it, and the stream stays open to its bound. A
 * purge therefore costs no isolate a new request (a long poll answered would
 * make every isolate of the region ask again at once), and the relay's load
 * is its isolates over the hold (about 135 a second for 2,700 isolates),
 * whatever the purge rate. Upstream, the relay holds one sync of its own, and
 * forwards what its isolates told it (positions, figures, reports) in a batch
 * at most every RELAY_FLUSH_MS, soon after news reached them
 * (control/relay-forwarder.ts).
 *
 * The relay keeps the snapshot and the newest `window` purge rules: an
 * isolate within them gets the rules after its position; one further behind
 * is sent to the folded catch-up, which the relay fetches once per band of
 * positions and serves to its region's colos.
 */
import { fullJitterBackoffMs } from "../common/backoff";
import { catchUpHeaderOf } from "../common/catch-up";
import type { PurgeRule, Snapshot } from "../common/snapshot";
import { MAX_SYNC_WAIT_MS, type Report, type SyncReport } from "../common/wire";
import { RELAY_FLUSH_MS, RELAY_FLUSH_SOON_MS, RelayForwarder } from "./relay-forwarder";
import type { RelayAnswer, RelayBatch, RelaySyncRequest } from "./relay-protocol";

export interface RelayUpstream {
  /** The relay's own sync, held up to `waitMs` by the global object when there is no news. */
  sync(request: RelaySyncRequest, waitMs: number): Promise<RelayAnswer>;
  forward(batch: RelayBatch): Promise<void>;
  catchUp(): Promise<Uint8Array<ArrayBuffer>>;
  config(): Promise<HeldConfigText>;
}

/** The configuration the control plane holds, as an isolate fetches it (text absent: run the variable). */
export interface HeldConfigText {
  version: number;
  text: string | undefined;
}

export interface RelayOptions {
  name: string;
  upstream: RelayUpstream;
  /** The newest rules kept: as many as an isolate may be behind and page (PURGE_CATCH_UP_AFTER). */
  window: number;
  /** How long the relay's own sync may be held upstream. */
  holdMs?: number;
  random?: () => number;
  now?: () => number;
}

/** Syncs held at once; past it the oldest ends (its isolate arms again). */
const MAX_RELAY_STREAMS = 20_000;
/** The relay keeps asking upstream while an isolate asked within this long. */
const IDLE_STOP_MS = 60_000;
/** A relay that stopped asking upstream asks once before answering when its state is older than this. */
const FRESH_MS = 1000;
/** An isolate's sync waits this long at most for the relay's pull when the relay has a snapshot to serve. */
const READY_WAIT_MS = 1000;
/** An answer is shared this long at most: an isolate reads the control plane's clock from its `generatedAt`. */
const ANSWER_REUSE_MS = 20;
/** An upstream call with no answer within its hold plus this has failed. */
const UPSTREAM_MARGIN_MS = 5000;
/**
 * Upstream failures back off to at most this long (full jitter from 1 s, doubling). Relays are few: six at one
 * call per 4 s cannot storm the global object; at 30 s a 1.5 s restart kept purges from isolates up to 8 s.
 */
const MAX_UPSTREAM_BACKOFF_MS = 4000;
/** The relay has no snapshot to serve: its first upstream sync failed. */
export class RelayUnavailable extends Error {}

type Base = Omit<Snapshot, "purges" | "catchUp" | "generatedAt">;

/** One isolate's held sync: each news goes down it, until its bound. */
interface HeldStream {
  report: SyncReport;
  have: number;
  /** The newest rule sent, in `epoch`'s numbering. */
  position: number;
  epoch: string | undefined;
  /** Until when it is held open; undefined once it ended (told upstream, so the isolate can count as idle). */
  heldUntil: number | undefined;
  /** It was last sent what the relay could not vouch for (unconfirmed): it is sent the state again once it can. */
  unconfirmed: boolean;
  send: (answer: Snapshot) => boolean;
  end: () => void;
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export class RelayState {
  private base: Base | undefined;
  /** The newest rules, contiguous, right after `after`. */
  private rules: PurgeRule[] = [];
  private after = 0;
  private fetchedAt = 0;
  /**
   * Answers for an isolate at a position, made once per state and at most ANSWER_REUSE_MS ago: every
   * isolate at one position gets the same, and its `generatedAt` (the isolate's clock reading) is fresh.
   */
  private answers = new Map<number, Snapshot>();
  private readonly streams = new Set<HeldStream>();
  private readonly forwarder: RelayForwarder;
  private upstreamRunning = false;
  private first: Promise<boolean> | undefined;
  private lastIsolateAt = 0;
  private catchUpMemo: { epoch: string; upTo: number; bytes: Uint8Array<ArrayBuffer> } | undefined;
  private catchUpFetch: Promise<Uint8Array<ArrayBuffer>> | undefined;
  private configMemo: HeldConfigText | undefined;
  private configFetch: Promise<HeldConfigText> | undefined;
  /** Upstream failures in a row (syncs, forwards). */
  failures = 0;
  /** The relay's own sync last failed: the global object is away, and batches wait for it to answer. */
  private syncFailing = false;
  /** When the relay last asked upstream for news. */
  private lastPullAt = 0;
  /** Ends the sync loop's backoff wait (backOff). */
  private wakeLoop: (() => void) | undefined;
  /** The relay's state is known current: its last pull answered, and it has not sat idle since (answerFor). */
  private vouched = false;
  private readonly now: () => number;

  constructor(private readonly options: RelayOptions) {
    this.now = options.now ?? Date.now;
    this.forwarder = new RelayForwarder({
      name: options.name,
      forward: (batch) => options.upstream.forward(batch),
      syncFailing: () => this.upstreamRunning && this.syncFailing,
      held: () => this.streams.size,
      failed: () => {
        this.failures++;
        return this.backoffMs();
      },
      now: this.now,
    });
  }

  /** Isolates' syncs held now. */
  get held(): number {
    return this.streams.size;
  }

  /** The newest rule this relay holds. */
  private get lastSeq(): number {
    return this.rules.at(-1)?.seq ?? this.after;
  }

  /**
   * An isolate's sync: answered at once when there is news (or `waitMs` is 0), then held to its
   * bound, each news sent as it comes, and a last answer at the bound. `send` says false once the
   * isolate is gone. Throws RelayUnavailable when the relay has nothing to serve.
   */
  async sync(report: SyncReport, waitMs: number, send: (answer: Snapshot) => boolean): Promise<void> {
    this.lastIsolateAt = this.now();
    await this.ready();
    this.ensureUpstream();
    const base = this.base!;
    const holdMs = Math.min(waitMs, MAX_SYNC_WAIT_MS);
    const stream: HeldStream = {
      report,
      have: report.have,
      position: report.purgeSeq,
      epoch: report.epoch ?? base.purgeEpoch,
      heldUntil: holdMs > 0 ? this.now() + holdMs : undefined,
      unconfirmed: report.unconfirmed === true,
      send,
      end: () => undefined,
    };
    this.forwarder.note(stream, RELAY_FLUSH_MS, true);
    if (waitMs <= 0) return void this.sendNews(stream, RELAY_FLUSH_MS);
    const owed = this.hasNews(stream) || (stream.unconfirmed && this.vouched);
    if (owed && !this.sendNews(stream, RELAY_FLUSH_SOON_MS)) return this.ended(stream);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(true), holdMs);
      const finish = (last: boolean) => {
        clearTimeout(timer);
        if (!this.streams.delete(stream)) return;
        stream.heldUntil = undefined;
        if (!last || !this.sendNews(stream, RELAY_FLUSH_MS)) this.ended(stream);
        resolve();
      };
      stream.end = () => finish(false);
      if (this.streams.size >= MAX_RELAY_STREAMS) this.streams.values().next().value?.end();
      this.streams.add(stream);
    });
  }

  /** A report (passive events, figures between syncs) for the global object, in the next batch. */
  report(report: Report): void {
    this.forwarder.report(report);
  }

  /** The folded catch-up, fetched upstream once per band of positions (half the window) and epoch. */
  async catchUp(): Promise<Uint8Array<ArrayBuffer>> {
    await this.ready();
    const memo = this.catchUpMemo;
    const base = this.base!;
    if (memo && memo.epoch === base.purgeEpoch && base.purgeSeq - memo.upTo <= Math.floor(this.options.window / 2)) return memo.bytes;
    this.catchUpFetch ??= this.options.upstream
      .catchUp()
      .then((bytes) => {
        const header = catchUpHeaderOf(bytes);
        this.catchUpMemo = { epoch: header.epoch, upTo: header.upTo, bytes };
        return bytes;
      })
      .finally(() => (this.catchUpFetch = undefined));
    return this.catchUpFetch;
  }

  /**
   * The held configuration, fetched upstream once per version for the region: a `PUT /v1/config` reaches
   * every isolate's held sync at once, and each then asks for the text (10,000 at one object in a second).
   */
  async config(): Promise<HeldConfigText> {
    await this.ready();
    const wanted = this.base!.configVersion ?? 0;
    if (this.configMemo?.version === wanted) return this.configMemo;
    this.configFetch ??= this.options.upstream
      .config()
      .then((held) => (this.configMemo = held))
      .finally(() => (this.configFetch = undefined));
    return this.configFetch;
  }

  /**
   * A snapshot to serve: fetched first when there is none, or the relay has not asked upstream for a while.
   * While its sync loop backs off from failures (up to MAX_UPSTREAM_BACKOFF_MS), an isolate's sync asks once
   * first if the relay's last try was over FRESH_MS ago: one call a second at most, whatever its isolates
   * do, and a new isolate right after the global object's return gets its news, not an unconfirmed answer.
   * A relay with a snapshot waits READY_WAIT_MS at most (a global object that hangs), then serves it unconfirmed.
   */
  async ready(): Promise<void> {
    const idle = !this.upstreamRunning && this.now() - this.fetchedAt > FRESH_MS;
    const failing = this.syncFailing && this.now() - this.lastPullAt > FRESH_MS;
    if (this.base && !idle && !failing) return;
    if (idle) this.setVouched(false);
    this.first ??= this.pull(0).finally(() => (this.first = undefined));
    if (this.base) await within(this.first, READY_WAIT_MS).catch(() => false);
    else await this.first;
    // Upstream failing: a relay with a snapshot serves it, as an isolate keeps serving its own.
    if (!this.base) throw new RelayUnavailable(`relay ${this.options.name} has no snapshot: the control plane did not answer`);
  }

  /** Answers made before are marked for the old state: they are made again. */
  private setVouched(value: boolean): void {
    if (this.vouched !== value) this.answers.clear();
    this.vouched = value;
  }

  /** The relay's own sync loop, while isolates ask: held syncs upstream, backing off with jitter on failure. */
  private ensureUpstream(): void {
    if (this.upstreamRunning) return;
    this.upstreamRunning = true;
    void (async () => {
      try {
        while (this.streams.size > 0 || this.now() - this.lastIsolateAt < IDLE_STOP_MS) {
          if (!(await this.pull(this.options.holdMs ?? 20_000))) await this.backOff();
        }
      } finally {
        this.upstreamRunning = false;
        this.forwarder.syncStopped(this.backoffMs());
      }
    })();
  }

  /**
   * The loop's wait after a failure, cut short when a call of an isolate's (ready) gets through: the relay
   * then holds its sync upstream again at once. Left asleep, it would count as in touch while holding
   * nothing, and miss the purges of the rest of its backoff.
   */
  private backOff(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wakeLoop?.(), this.backoffMs());
      this.wakeLoop = () => {
        clearTimeout(timer);
        this.wakeLoop = undefined;
        resolve();
      };
    });
  }

  private backoffMs(): number {
    return fullJitterBackoffMs(this.failures, { firstCeilingMs: 1000, maxMs: MAX_UPSTREAM_BACKOFF_MS, floorMs: 250 }, this.options.random);
  }

  /** One upstream sync; whether it answered. */
  private async pull(waitMs: number): Promise<boolean> {
    const base = this.base;
    const request: RelaySyncRequest = base
      ? { relay: this.options.name, have: base.version, purgeSeq: this.lastSeq, ...(base.purgeEpoch ? { epoch: base.purgeEpoch } : {}) }
      : { relay: this.options.name, have: 0 };
    this.lastPullAt = this.now();
    try {
      const answer = await within(this.options.upstream.sync(request, waitMs), waitMs + UPSTREAM_MARGIN_MS);
      // In touch again before the answer goes down the streams: what they are sent now is vouched for.
      this.failures = 0;
      this.syncFailing = false;
      this.setVouched(true);
      this.wakeLoop?.();
      this.apply(answer);
      this.forwarder.recovered();
      return true;
    } catch {
      this.failures++;
      this.syncFailing = true;
      this.setVouched(false);
      return false;
    }
  }

  /** An upstream answer: the newest window of rules kept, and every held isolate with news told. */
  private apply({ snapshot, after }: RelayAnswer): void {
    const { purges, catchUp: _catchUp, generatedAt: _generatedAt, ...base } = snapshot;
    if (this.base?.purgeEpoch === base.purgeEpoch && after === this.lastSeq) this.rules.push(...purges);
    else {
      this.rules = [...purges];
      this.after = after;
    }
    if (this.rules.length > this.options.window) {
      this.rules = this.rules.slice(-this.options.window);
      this.after = this.rules[0].seq - 1;
    }
    this.base = base;
    this.fetchedAt = this.now();
    this.answers.clear();
    for (const stream of [...this.streams]) if ((this.hasNews(stream) || stream.unconfirmed) && !this.sendNews(stream, RELAY_FLUSH_SOON_MS)) stream.end();
  }

  private hasNews(stream: HeldStream): boolean {
    const base = this.base!;
    return stream.epoch !== base.purgeEpoch || base.version > stream.have || base.purgeSeq > stream.position;
  }

  /**
   * Sends the isolate the snapshot and the rules after its position; false when the stream is
   * over: the isolate went away, or was sent to the catch-up (it asks again after fetching it).
   */
  private sendNews(stream: HeldStream, flushInMs: number): boolean {
    // Another epoch's sequence numbers mean nothing here: the isolate starts from zero.
    if (stream.epoch !== this.base!.purgeEpoch) [stream.position, stream.epoch] = [0, this.base!.purgeEpoch];
    const answer = this.answerFor(stream.position);
    if (!stream.send(answer)) return false;
    stream.have = answer.version;
    stream.unconfirmed = answer.unconfirmed === true;
    stream.position = Math.max(stream.position, answer.purges.at(-1)?.seq ?? stream.position);
    this.forwarder.note(stream, flushInMs);
    return !answer.catchUp;
  }

  /** What an isolate at `position` is sent: the rules after it, or the catch-up when the relay holds too few. */
  private answerFor(position: number): Snapshot {
    let answer = this.answers.get(position);
    if (answer && this.now() - answer.generatedAt <= ANSWER_REUSE_MS) return answer;
    answer = { ...this.base!, generatedAt: this.now(), purges: [], ...(this.vouched ? {} : { unconfirmed: true as const }) };
    if (position < this.after) answer.catchUp = true;
    else answer.purges = this.rules.filter((rule) => rule.seq > position);
    this.answers.set(position, answer);
    return answer;
  }

  /** A held stream is over: upstream learns it holds none now. */
  private ended(stream: HeldStream): void {
    stream.heldUntil = undefined;
    this.forwarder.note(stream, RELAY_FLUSH_MS);
  }
}
