/**
 * The purge rules a POP applies at lookup (a ban list): an entry whose fill
 * began before a matching rule is gone (hard) or stale (soft). This reaches
 * entries in both tiers alike, including Cache API entries that cannot be
 * listed. Rules are dropped once no stored entry can be older than them.
 * Pure: time is a parameter.
 */
import type { PurgeRule, PurgeTarget } from "../../control/snapshot";

export type PurgeVerdict = { kind: "none" } | { kind: "hard"; rule: PurgeRule } | { kind: "soft"; rule: PurgeRule; at: number };

interface AppliedRule extends PurgeRule {
  /** Entries whose fill began before this are covered by the rule. */
  effectiveAt: number;
}

/** A purge URL or prefix as a cache-key prefix: `https://host/path`, whatever scheme was given. */
export function keyPrefixOf(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  const url = new URL(withScheme);
  return `https://${url.hostname.toLowerCase()}${url.pathname}${url.search}`;
}

function targetMatches(target: PurgeTarget, key: string, tags: readonly string[]): boolean {
  switch (target.kind) {
    case "everything":
      return true;
    case "url":
      return key === target.value;
    case "prefix":
      return key.startsWith(target.value);
    case "tag":
      return tags.includes(target.value);
    case "host":
      return key.startsWith(`https://${target.value}/`);
  }
}

export class PurgeRules {
  private rules: AppliedRule[] = [];
  highestSeq = 0;

  constructor(private readonly horizonMs: number) {}

  /**
   * Adds rules from a snapshot; returns those that are new here. A rule's time
   * is the control plane's: `clockOffsetMs` (control clock minus ours, as the
   * last sync measured it) turns it into ours, and `uncertaintyMs` (half that
   * sync's round trip) errs on the side of purging.
   */
  apply(rules: readonly PurgeRule[], now: number, clockOffsetMs = 0, uncertaintyMs = 0): PurgeRule[] {
    const fresh = rules.filter((r) => r.seq > this.highestSeq);
    for (const rule of fresh) {
      this.rules.push({ ...rule, effectiveAt: rule.at - clockOffsetMs + uncertaintyMs });
      this.highestSeq = Math.max(this.highestSeq, rule.seq);
    }
    this.prune(now);
    return fresh;
  }

  /** Drops rules older than any entry can be. */
  prune(now: number): void {
    const limit = now - this.horizonMs;
    if (this.rules.length > 0 && this.rules[0].effectiveAt < limit) this.rules = this.rules.filter((r) => r.effectiveAt >= limit);
  }

  /**
   * The verdict for an entry of primary key `key` with `tags`, whose fill
   * began at `fetchedAt`. A hard rule wins over a soft one.
   */
  verdict(key: string, tags: readonly string[], fetchedAt: number): PurgeVerdict {
    let soft: PurgeVerdict = { kind: "none" };
    for (let i = this.rules.length - 1; i >= 0; i--) {
      const rule = this.rules[i];
      if (rule.effectiveAt <= fetchedAt) continue;
      if (!rule.targets.some((t) => targetMatches(t, key, tags))) continue;
      if (!rule.soft) return { kind: "hard", rule };
      if (soft.kind === "none") soft = { kind: "soft", rule, at: rule.effectiveAt };
    }
    return soft;
  }

  /** For entries in memory: does a rule remove it now? */
  matches(rule: PurgeRule, key: string, tags: readonly string[]): boolean {
    return rule.targets.some((t) => targetMatches(t, key, tags));
  }

  get size(): number {
    return this.rules.length;
  }
}
