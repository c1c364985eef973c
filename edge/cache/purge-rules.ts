/**
 * The purge rules a POP applies at lookup (a ban list): an entry whose fill
 * began before a matching rule is gone (hard) or stale (soft). This reaches
 * entries in both tiers alike, including Cache API entries that cannot be
 * listed. Rules are indexed by what they name, so a lookup costs one probe
 * per tag and prefix rule, not one per rule ever issued; they are dropped
 * once no stored entry can be older than them. Pure: time is a parameter.
 */
import type { PurgeRule } from "../../control/snapshot";

export type PurgeVerdict = { kind: "none" } | { kind: "hard"; rule: PurgeRule } | { kind: "soft"; rule: PurgeRule; at: number };

interface AppliedRule extends PurgeRule {
  /** Entries whose fill began before this are covered by the rule. */
  effectiveAt: number;
}

/** The latest hard and soft rule for one name (a URL, host, tag or prefix). */
interface Latest {
  hard?: AppliedRule;
  soft?: AppliedRule;
}

/** A purge URL or prefix as a cache-key prefix: `https://host/path`, whatever scheme was given. */
export function keyPrefixOf(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  const url = new URL(withScheme);
  return `https://${url.hostname.toLowerCase()}${url.pathname}${url.search}`;
}

function hostOfKey(key: string): string {
  const end = key.indexOf("/", 8); // after "https://"
  return end === -1 ? key.slice(8) : key.slice(8, end);
}

export class PurgeRules {
  /** Every rule in force, oldest first (for pruning and for the status page). */
  private rules: AppliedRule[] = [];
  private byUrl = new Map<string, Latest>();
  private byHost = new Map<string, Latest>();
  private byTag = new Map<string, Latest>();
  private byPrefix = new Map<string, Latest>();
  private everything: Latest = {};
  highestSeq = 0;

  constructor(private readonly horizonMs: number) {}

  /**
   * Adds rules from a snapshot; returns those that are new here. A rule's time
   * is the control plane's: `clockOffsetMs` (control clock minus ours, as the
   * last sync measured it) turns it into ours, and `uncertaintyMs` (half that
   * sync's round trip) errs on the side of purging.
   */
  apply(rules: readonly PurgeRule[], now: number, clockOffsetMs = 0, uncertaintyMs = 0): PurgeRule[] {
    const fresh = rules.filter((r) => r.seq > this.highestSeq).sort((a, b) => a.seq - b.seq);
    for (const rule of fresh) {
      const applied: AppliedRule = { ...rule, effectiveAt: rule.at - clockOffsetMs + uncertaintyMs };
      this.rules.push(applied);
      this.index(applied);
      this.highestSeq = Math.max(this.highestSeq, rule.seq);
    }
    this.prune(now);
    return fresh;
  }

  private index(rule: AppliedRule): void {
    const note = (latest: Latest) => {
      if (rule.soft) latest.soft = rule;
      else latest.hard = rule;
    };
    const at = (map: Map<string, Latest>, name: string) => {
      let latest = map.get(name);
      if (!latest) map.set(name, (latest = {}));
      note(latest);
    };
    for (const t of rule.targets) {
      if (t.kind === "everything") note(this.everything);
      else if (t.kind === "url") at(this.byUrl, t.value);
      else if (t.kind === "host") at(this.byHost, t.value);
      else if (t.kind === "tag") at(this.byTag, t.value);
      else at(this.byPrefix, t.value);
    }
  }

  /** Drops rules older than any entry can be, and rebuilds the index from what is left. */
  prune(now: number): void {
    const limit = now - this.horizonMs;
    if (this.rules.length === 0 || this.rules[0].effectiveAt >= limit) return;
    this.rules = this.rules.filter((r) => r.effectiveAt >= limit);
    this.byUrl = new Map();
    this.byHost = new Map();
    this.byTag = new Map();
    this.byPrefix = new Map();
    this.everything = {};
    for (const rule of this.rules) this.index(rule);
  }

  /**
   * The verdict for an entry of primary key `key` with `tags`, whose fill
   * began at `fetchedAt`. A hard rule wins over a soft one.
   */
  verdict(key: string, tags: readonly string[], fetchedAt: number): PurgeVerdict {
    if (this.rules.length === 0) return { kind: "none" };
    let hard: AppliedRule | undefined;
    let soft: AppliedRule | undefined;
    const consider = (latest: Latest | undefined) => {
      if (!latest) return;
      if (latest.hard && latest.hard.effectiveAt > fetchedAt && (!hard || latest.hard.effectiveAt > hard.effectiveAt)) hard = latest.hard;
      if (latest.soft && latest.soft.effectiveAt > fetchedAt && (!soft || latest.soft.effectiveAt > soft.effectiveAt)) soft = latest.soft;
    };
    consider(this.everything);
    consider(this.byUrl.get(key));
    consider(this.byHost.get(hostOfKey(key)));
    for (const tag of tags) consider(this.byTag.get(tag));
    for (const [prefix, latest] of this.byPrefix) if (key.startsWith(prefix)) consider(latest);
    if (hard) return { kind: "hard", rule: hard };
    if (soft) return { kind: "soft", rule: soft, at: soft.effectiveAt };
    return { kind: "none" };
  }

  get size(): number {
    return this.rules.length;
  }
}
