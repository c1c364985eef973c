/**
 * The purge rules a POP applies at lookup (a ban list): an entry whose fill
 * began before a matching rule is gone (hard) or stale (soft). This reaches
 * entries in both tiers alike, including Cache API entries that cannot be
 * listed. Built for a busy site's volume (100,000 purges a day, kept for the
 * retention window): a rule is not kept as an object but folded into the
 * latest hard and soft time of each name it targets (NameTimes, 16 bytes a
 * name), so memory grows with distinct names, and a lookup costs one probe
 * per tag and per path segment of the key, however many rules there are.
 * Hard URL rules are kept only for a grace period: by then the POP has
 * deleted their entries from both tiers, and fills that began before them
 * have ended. An isolate far behind gets the rules in force folded instead
 * (common/catch-up.ts): their names by fingerprint, each at its bucket's
 * time, in a table of their own. Pure: time is a parameter.
 */
import type { PurgeRule, Snapshot } from "../../common/snapshot";
import type { DecodedCatchUp } from "../../common/catch-up";
import { hash64 } from "../../common/hash";
import { fingerprintOfHash, purgeNameOf, URL_RULE_GRACE_MS } from "../../common/purge-names";
import { NameTimes, type Times } from "./name-times";

/**
 * Rule times are kept as 32-bit ticks of 10 ms from a base before any rule
 * the isolate can need (497 days of range, past the longest horizon). A time
 * is rounded up to its tick: an entry fetched within 10 ms after a purge also
 * counts as purged, one extra miss at most, never a purge missed.
 */
const TICK_MS = 10;

/** `at`: when the purge took effect, ms since the epoch (in our clock). */
export type PurgeVerdict = { kind: "none" } | { kind: "hard"; at: number } | { kind: "soft"; at: number };

function hostOfKey(key: string): string {
  const end = key.indexOf("/", 8); // after "https://"
  return end === -1 ? key.slice(8) : key.slice(8, end);
}

export class PurgeRules {
  /** Tags, hosts, prefixes and soft URL rules, for the whole horizon. */
  private names = new NameTimes();
  /** Hard URL rules, for their grace period. */
  private recentUrls = new NameTimes();
  /** Names from a folded catch-up, by fingerprint (common/catch-up.ts), for the whole horizon. */
  private folded = new NameTimes();
  private everything: Times = { hard: 0, soft: 0 };
  private lastSweep = -Infinity;
  /** ms since the epoch of tick 0. */
  private base: number | undefined;
  highestSeq = 0;
  /**
   * While rules issued are still on their way (an isolate catching up, in
   * pages, on a long log): the newest of them was accepted at this time (our
   * clock), so any entry fetched before it may be purged by one not here yet,
   * and counts as purged until they all are. 0: nothing is on its way.
   */
  private pendingUntil = 0;

  constructor(
    private readonly horizonMs: number,
    private readonly urlGraceMs = URL_RULE_GRACE_MS,
  ) {}

  private tickOf(ms: number): number {
    // The first rule fixes the base, a horizon before it: nothing older matters.
    this.base ??= ms - this.horizonMs - TICK_MS;
    return Math.max(1, Math.ceil((ms - this.base) / TICK_MS));
  }

  private msOf(tick: number): number {
    return (this.base ?? 0) + tick * TICK_MS;
  }

  /** Ticks before `ms` (0 before the base). */
  private ticksBefore(ms: number): number {
    return this.base === undefined ? 0 : Math.max(0, Math.floor((ms - this.base) / TICK_MS));
  }

  /**
   * Adds rules from a snapshot; returns those that are new here. A rule's time
   * is the control plane's: `clockOffsetMs` (control clock minus ours, as the
   * last sync measured it) turns it into ours, and `uncertaintyMs` (half that
   * sync's round trip) errs on the side of purging.
   */
  apply(rules: readonly PurgeRule[], now: number, clockOffsetMs = 0, uncertaintyMs = 0): PurgeRule[] {
    const fresh = rules.filter((r) => r.seq > this.highestSeq).sort((a, b) => a.seq - b.seq);
    for (const rule of fresh) {
      const at = this.tickOf(rule.at - clockOffsetMs + uncertaintyMs);
      for (const t of rule.targets) {
        const name = purgeNameOf(t);
        if (name === undefined) this.noteEverything(rule.soft, at);
        else (t.kind === "url" && !rule.soft ? this.recentUrls : this.names).note(name, rule.soft, at);
      }
      this.highestSeq = Math.max(this.highestSeq, rule.seq);
    }
    this.prune(now);
    return fresh;
  }

  private noteEverything(soft: boolean, tick: number): void {
    if (soft) this.everything.soft = Math.max(this.everything.soft, tick);
    else this.everything.hard = Math.max(this.everything.hard, tick);
  }

  /**
   * Adds a folded catch-up: every rule up to `header.upTo` at once, each name counting as purged
   * at its bucket's time (in the control plane's clock, turned into ours as in `apply`).
   */
  applyCatchUp({ header, buckets }: DecodedCatchUp, now: number, clockOffsetMs = 0, uncertaintyMs = 0): void {
    const tickAt = (ms: number) => this.tickOf(ms - clockOffsetMs + uncertaintyMs);
    if (header.everything.hard > 0) this.noteEverything(false, tickAt(header.everything.hard));
    if (header.everything.soft > 0) this.noteEverything(true, tickAt(header.everything.soft));
    for (const bucket of buckets) {
      const at = tickAt(bucket.to);
      for (const fingerprint of bucket.hard) this.folded.noteKey(fingerprint, 1, false, at);
      for (const fingerprint of bucket.soft) this.folded.noteKey(fingerprint, 1, true, at);
    }
    this.highestSeq = Math.max(this.highestSeq, header.upTo);
    this.prune(now, true);
  }

  /** Forgets what no stored entry can be older than; sweeps at most once a minute (each sweep walks the table). */
  prune(now: number, force = false): void {
    if (!force && now - this.lastSweep < Math.min(60_000, this.horizonMs / 10)) return;
    this.lastSweep = now;
    this.names.sweep(this.ticksBefore(now - this.horizonMs));
    this.folded.sweep(this.ticksBefore(now - this.horizonMs));
    this.recentUrls.sweep(this.ticksBefore(now - this.urlGraceMs));
    const limit = this.ticksBefore(now - this.horizonMs);
    if (this.everything.hard < limit) this.everything.hard = 0;
    if (this.everything.soft < limit) this.everything.soft = 0;
  }

  /**
   * The verdict for an entry of primary key `key` with `tags`, whose fill
   * began at `fetchedAt` (ms). A hard rule wins over a soft one.
   */
  verdict(key: string, tags: readonly string[], fetchedAt: number): PurgeVerdict {
    if (fetchedAt < this.pendingUntil) return { kind: "hard", at: this.pendingUntil };
    if (this.size === 0) return { kind: "none" };
    let hard = 0;
    let soft = 0;
    const consider = (times: Times | undefined) => {
      if (!times) return;
      if (times.hard > hard && this.msOf(times.hard) > fetchedAt) hard = times.hard;
      if (times.soft > soft && this.msOf(times.soft) > fetchedAt) soft = times.soft;
    };
    const withFolded = this.folded.size > 0;
    const considerName = (name: string) => {
      const [a, b] = hash64(name);
      consider(this.names.getKey(a, b));
      if (withFolded) consider(this.folded.getKey(fingerprintOfHash(a, b), 1));
    };
    consider(this.everything);
    consider(this.recentUrls.get(`u:${key}`));
    considerName(`u:${key}`);
    considerName(`h:${hostOfKey(key)}`);
    for (const tag of tags) considerName(`t:${tag}`);
    // Prefixes match at path separators (as Cloudflare's do): https://host, https://host/a, https://host/a/b…
    const q = key.indexOf("?");
    const path = q === -1 ? key : key.slice(0, q);
    for (let i = path.indexOf("/", 8); i !== -1; i = path.indexOf("/", i + 1)) considerName(`p:${path.slice(0, i)}`);
    if (!path.endsWith("/") || path.indexOf("/", 8) === -1) considerName(`p:${path}`);
    if (hard) return { kind: "hard", at: this.msOf(hard) };
    if (soft) return { kind: "soft", at: this.msOf(soft) };
    return { kind: "none" };
  }

  /** Rules up to one accepted at `atMs` (our clock) are yet to come (0: none are): see pendingUntil. */
  setPending(atMs: number): void {
    this.pendingUntil = atMs;
  }

  /**
   * What a sync answer says of the rules issued, `offsetMs` its clock ahead of ours. Rules issued that have
   * not come yet (a long log, in pages): whatever was fetched before the newest counts as purged until they
   * all are here, so a new isolate serves nothing purged. An answer its relay could not vouch for
   * (`unconfirmed`: out of touch with the global object) lifts no bound: purges may have come since.
   */
  noteIssued(issued: Pick<Snapshot, "purgeSeq" | "purgeAt" | "unconfirmed">, offsetMs: number, uncertaintyMs: number): void {
    const behind = this.highestSeq < issued.purgeSeq && issued.purgeAt !== undefined;
    const bound = behind ? issued.purgeAt! - offsetMs + uncertaintyMs : 0;
    this.pendingUntil = issued.unconfirmed ? Math.max(this.pendingUntil, bound) : bound;
  }

  /** Names with a purge in force. */
  get size(): number {
    return this.names.size + this.recentUrls.size + this.folded.size + (this.everything.hard || this.everything.soft ? 1 : 0);
  }

  /** Memory the rules hold, bytes. */
  get bytes(): number {
    return this.names.bytes + this.recentUrls.bytes + this.folded.bytes;
  }
}
