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

export interface Snapshot {
  /** Grows with every change; POPs keep the highest they have applied. */
  version: number;
  generatedAt: number;
  origins: Record<string, OriginOverride>;
  health: Record<string, OriginHealthView>;
}

export const EMPTY_SNAPSHOT: Snapshot = { version: 0, generatedAt: 0, origins: {}, health: {} };
