/**
 * The names purge rules are kept under, at the edge and in the control
 * plane's folded catch-up alike: `u:` a URL (a primary cache key), `h:` a
 * host, `t:` a tag, `p:` a path prefix. One derivation, so that a name the
 * control plane folds is the name a POP looks up.
 */
import type { PurgeTarget } from "./snapshot";
import { hash64 } from "./hash";

/** A prefix target as the name it is indexed by: `https://host/a/b`, without a trailing slash or query. */
function prefixName(value: string): string {
  const q = value.indexOf("?");
  return (q === -1 ? value : value.slice(0, q)).replace(/\/+$/, "");
}

/** The name a target is kept under; undefined for `everything`, which names nothing. */
export function purgeNameOf(target: PurgeTarget): string | undefined {
  switch (target.kind) {
    case "url":
      return `u:${target.value}`;
    case "host":
      return `h:${target.value}`;
    case "tag":
      return `t:${target.value}`;
    case "prefix":
      return `p:${prefixName(target.value)}`;
    case "everything":
      return undefined;
  }
}

/**
 * How long a hard URL rule is kept after it took effect: by then a POP that applied it has deleted
 * its entries from both tiers, and fills that began before it have ended.
 */
export const URL_RULE_GRACE_MS = 15 * 60_000;

/** Fingerprints in the folded catch-up are this wide: with 400,000 names, one lookup in 2,700 matches a name never purged (an extra miss, never a purge missed). */
export const FINGERPRINT_BITS = 30;

/** A name's fingerprint, from its 64-bit hash mixed down (murmur3's finalizer) to FINGERPRINT_BITS. */
export function fingerprintOf(name: string): number {
  const [a, b] = hash64(name);
  return fingerprintOfHash(a, b);
}

/** The same from the name's hash64, for a caller that has it already. */
export function fingerprintOfHash(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h >>> (32 - FINGERPRINT_BITS);
}
