/**
 * What the control plane tells every POP, versioned so that a POP can ask
 * "anything newer than N?" cheaply. Types only: shared by edge/ and control/.
 */

/** Run-time changes to an origin, made through the control API. */
export interface OriginOverride {
  weight?: number;
  enabled?: boolean;
  draining?: boolean;
}

export interface OriginHealthView {
  healthy: boolean;
  /** ms since the epoch of the last transition. */
  since: number;
  reason?: string;
}

/** What one purge removes (Cloudflare's purge body, normalized). */
export type PurgeTarget =
  | { kind: "url"; value: string }
  | { kind: "prefix"; value: string }
  | { kind: "tag"; value: string }
  | { kind: "host"; value: string }
  | { kind: "everything" };

/** One purge as POPs apply it: entries fetched before `at` that match a target are gone (or stale, when soft). */
export interface PurgeRule {
  seq: number;
  id: string;
  /** When the control plane accepted it, ms since the epoch. */
  at: number;
  soft: boolean;
  targets: PurgeTarget[];
}

export interface Snapshot {
  /** Grows with every change; POPs keep the highest they have applied. */
  version: number;
  generatedAt: number;
  origins: Record<string, OriginOverride>;
  health: Record<string, OriginHealthView>;
  /** Purge rules with a sequence number above the one the POP said it has (all retained ones for a new POP). */
  purges: PurgeRule[];
  /** The highest purge sequence number issued. */
  purgeSeq: number;
  /** The epoch that sequence belongs to; a POP that sees a new one resyncs its sequence from zero. */
  purgeEpoch?: string;
}

export const EMPTY_SNAPSHOT: Snapshot = { version: 0, generatedAt: 0, origins: {}, health: {}, purges: [], purgeSeq: 0 };
