/**
 * What the control plane tells every POP. The types are inferred from their
 * schemas in common/wire.ts (declared once); this module names them for
 * edge/ and control/ alike.
 */
import type { Snapshot } from "./wire";

export type { OriginHealthView, OriginOverride, PurgeRule, PurgeTarget, Snapshot } from "./wire";

export const EMPTY_SNAPSHOT: Snapshot = { version: 0, generatedAt: 0, origins: {}, health: {}, purges: [], purgeSeq: 0 };
