/**
 * Folds the purge log into the catch-up (common/catch-up.ts): one bounded
 * answer with every rule in force, for isolates too far behind to page.
 *
 * A busy site keeps about 800,000 rules (100,000 a day, for the longest stored
 * lifetime): reading them all for each answer would take the object seconds.
 * So each closed hour of the log is folded once into a row of its own (about
 * 10 KB at that volume, written once, dropped past the horizon), and an answer
 * reads only the open hour's rules. Older buckets are coarser, since the
 * answer's bytes are what a new isolate waits for: per minute within the open
 * hour, per hour within a day, per six hours beyond. Hard URL rules are folded
 * only within their grace (URL_RULE_GRACE_MS): past it their entries are gone
 * from the tiers, as a POP that applied them live forgets them too.
 */
import { codeBucket, encodeCatchUp, type CodedBucket } from "../common/catch-up";
import { fingerprintOf, purgeNameOf, URL_RULE_GRACE_MS } from "../common/purge-names";
import type { PurgeRule } from "../common/snapshot";
import type { ControlStorage } from "./storage";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** An hour is folded this long after it ends: a rule is stamped when accepted, and clocks may step back a little. */
const CLOSE_AFTER_MS = MINUTE_MS;
/** Hours older than this are sent in groups of GROUP_HOURS. */
const HOURLY_FOR_MS = 24 * HOUR_MS;
const GROUP_HOURS = 6;
/** An answer is folded again at most this often unless it fell far behind (a purge storm must not keep the object folding). */
const REFOLD_MS = 5_000;

interface Times {
  hard: number;
  soft: number;
}

/** One bucket's names as fingerprints, and the newest `purge_everything` among its rules. */
interface Fold {
  to: number;
  hard: number[];
  soft: number[];
  everything: Times;
}

/** An hour's row: its sets as base64 of Uint32 fingerprints (a row is written once, read at object start). */
interface FoldRow {
  to: number;
  hard: string;
  soft: string;
  everything: Times;
}

const emptyFold = (): Fold => ({ to: 0, hard: [], soft: [], everything: { hard: 0, soft: 0 } });

function latestEverything(times: Times[]): Times {
  return { hard: Math.max(0, ...times.map((t) => t.hard)), soft: Math.max(0, ...times.map((t) => t.soft)) };
}

/** Folds `rule` into `fold`; hard URL targets only when `withHardUrls`. */
function foldRule(fold: Fold, rule: PurgeRule, withHardUrls: boolean): void {
  let folded = false;
  for (const target of rule.targets) {
    if (target.kind === "everything") {
      const kind = rule.soft ? "soft" : "hard";
      fold.everything[kind] = Math.max(fold.everything[kind], rule.at);
      folded = true;
      continue;
    }
    if (target.kind === "url" && !rule.soft && !withHardUrls) continue;
    (rule.soft ? fold.soft : fold.hard).push(fingerprintOf(purgeNameOf(target)!));
    folded = true;
  }
  if (folded) fold.to = Math.max(fold.to, rule.at);
}

const toBase64 = (values: number[]): string => {
  const bytes = new Uint8Array(Uint32Array.from(values).buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
};
const fromBase64 = (text: string): number[] => [...new Uint32Array(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer)];

export interface CatchUpPosition {
  epoch: string;
  /** The highest sequence number issued. */
  purgeSeq: number;
}

export class CatchUpFolds {
  /** Closed hours by their start, as folded (loaded from their rows once). */
  private hours: Map<number, Fold> | undefined;
  private memo: { upTo: number; builtAt: number; epoch: string; bytes: Uint8Array<ArrayBuffer> } | undefined;
  private building: Promise<Uint8Array<ArrayBuffer>> | undefined;
  private closedMemo: { signature: string; buckets: CodedBucket[]; everything: Times } | undefined;

  constructor(
    private readonly storage: ControlStorage,
    private readonly horizonMs: () => number,
    private readonly urlGraceMs = URL_RULE_GRACE_MS,
  ) {}

  /**
   * The catch-up, folded again when the one held is more than `behindAtMost` rules behind, or
   * REFOLD_MS old and behind at all; otherwise the one held (the isolate pages the rest).
   */
  answer(position: CatchUpPosition, now: number, behindAtMost: number): Promise<Uint8Array<ArrayBuffer>> {
    const memo = this.memo;
    const fresh = memo && memo.epoch === position.epoch && (memo.upTo === position.purgeSeq || (memo.upTo >= position.purgeSeq - behindAtMost && now - memo.builtAt < REFOLD_MS));
    if (fresh) return Promise.resolve(memo.bytes);
    this.building ??= this.build(position, now).finally(() => (this.building = undefined));
    return this.building;
  }

  private async build(position: CatchUpPosition, now: number): Promise<Uint8Array<ArrayBuffer>> {
    const closed = this.codedClosedHours(await this.closedHours(now), now);
    const openFrom = Math.floor((now - CLOSE_AFTER_MS) / HOUR_MS) * HOUR_MS;
    const graceFrom = now - this.urlGraceMs;
    const minutes = new Map<number, Fold>();
    // The open hour per minute, and the hard URL rules still within their grace from a closed hour (its row leaves them out).
    let upTo = 0;
    for (const rule of await this.storage.purgesBetween(Math.min(openFrom, graceFrom), Number.MAX_SAFE_INTEGER)) {
      upTo = Math.max(upTo, rule.seq);
      const minute = Math.floor(rule.at / MINUTE_MS) * MINUTE_MS;
      const fold = minutes.get(minute) ?? minutes.set(minute, emptyFold()).get(minute)!;
      if (rule.at >= openFrom) foldRule(fold, rule, rule.at >= graceFrom);
      else if (rule.at >= graceFrom && !rule.soft) foldRule(fold, { ...rule, targets: rule.targets.filter((t) => t.kind === "url") }, true);
    }
    const open = [...minutes.entries()].sort(([a], [b]) => a - b).map(([, fold]) => fold);
    const everything = latestEverything([closed.everything, ...open.map((f) => f.everything)]);
    // A hard purge_everything subsumes every name purged before it (an entry fetched before such a
    // name's time was fetched before it too): buckets wholly older are left out.
    const buckets = [...closed.buckets, ...open.filter((f) => f.hard.length + f.soft.length > 0).map(codeBucket)].filter((b) => b.to > everything.hard);
    // Every rule up to the newest issued is in: the closed hours hold all before the open one.
    upTo = Math.max(upTo, position.purgeSeq);
    const bytes = encodeCatchUp({ epoch: position.epoch, upTo, generatedAt: now, everything }, buckets);
    this.memo = { upTo, builtAt: now, epoch: position.epoch, bytes };
    return bytes;
  }

  /**
   * The closed hours as coded buckets (per hour within a day, per GROUP_HOURS beyond), coded again
   * only when an hour closes, ages past a day or drops out: coding 400,000 names takes the object
   * most of a second, the open hour's a few milliseconds.
   */
  private codedClosedHours(hours: Map<number, Fold>, now: number): { buckets: CodedBucket[]; everything: Times } {
    const starts = [...hours.keys()].sort((a, b) => a - b);
    const hourlyFrom = Math.floor((now - HOURLY_FOR_MS) / HOUR_MS) * HOUR_MS;
    const signature = `${starts[0]}:${starts.at(-1)}:${starts.length}:${hourlyFrom}`;
    if (this.closedMemo?.signature === signature) return this.closedMemo;
    const groups = new Map<number, Fold>();
    for (const start of starts) {
      const fold = hours.get(start)!;
      const key = start < hourlyFrom ? Math.floor(start / (GROUP_HOURS * HOUR_MS)) * GROUP_HOURS * HOUR_MS : start;
      const group = groups.get(key) ?? groups.set(key, emptyFold()).get(key)!;
      group.to = Math.max(group.to, fold.to);
      for (const v of fold.hard) group.hard.push(v);
      for (const v of fold.soft) group.soft.push(v);
    }
    const buckets = [...groups.values()].filter((g) => g.hard.length + g.soft.length > 0).map(codeBucket);
    this.closedMemo = { signature, buckets, everything: latestEverything([...hours.values()].map((f) => f.everything)) };
    return this.closedMemo;
  }

  /** The closed hours within the horizon, each folded once (and its row written); hours past it dropped. */
  private async closedHours(now: number): Promise<Map<number, Fold>> {
    if (!this.hours) {
      this.hours = new Map();
      for (const [id, row] of await this.storage.rows<FoldRow>("fold")) {
        this.hours.set(Number(id), { to: row.to, hard: fromBase64(row.hard), soft: fromBase64(row.soft), everything: row.everything });
      }
    }
    const horizonStart = Math.floor((now - this.horizonMs()) / HOUR_MS) * HOUR_MS;
    for (const start of [...this.hours.keys()]) {
      if (start >= horizonStart) continue;
      this.hours.delete(start);
      await this.storage.deleteRow("fold", String(start));
    }
    const openFrom = Math.floor((now - CLOSE_AFTER_MS) / HOUR_MS) * HOUR_MS;
    for (let start = horizonStart; start < openFrom; start += HOUR_MS) {
      if (this.hours.has(start)) continue;
      const fold = emptyFold();
      for (const rule of await this.storage.purgesBetween(start, start + HOUR_MS)) foldRule(fold, rule, false);
      this.hours.set(start, fold);
      await this.storage.putRow<FoldRow>("fold", String(start), { to: fold.to, hard: toBase64(fold.hard), soft: toBase64(fold.soft), everything: fold.everything });
    }
    return this.hours;
  }
}
