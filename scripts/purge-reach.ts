/**
 * Where a purge stands at each POP, for `npm run purge -- --wait`: grouped
 * so that the words cannot be misread (an idle POP is not one that missed
 * the purge). Pure.
 */
export interface PurgeStatusAnswer {
  pops: { name: string; applied: boolean; idle: boolean; lastSyncAt: number }[];
}

/** Where a purge stands at each POP, in groups that cannot be misread. */
export interface PurgeReach {
  /** Have it: every request they answer now respects it. */
  applied: string[];
  /** Synced before the purge and not since (no traffic): each syncs, and so applies it, before answering its next request. */
  idle: string[];
  /** Known to the topology but never synced with the control plane: each loads every purge before its first answer. */
  neverSynced: string[];
  /** Synced recently, but not since the purge: the ones --wait waits for. */
  pending: string[];
}

export function purgeReach(status: PurgeStatusAnswer, topologyPops: string[]): PurgeReach {
  const known = new Set(status.pops.map((p) => p.name));
  return {
    applied: status.pops.filter((p) => p.applied).map((p) => p.name),
    idle: status.pops.filter((p) => !p.applied && p.idle).map((p) => p.name),
    neverSynced: topologyPops.filter((name) => !known.has(name)),
    pending: status.pops.filter((p) => !p.applied && !p.idle).map((p) => p.name),
  };
}

export function describeReach(reach: PurgeReach, waitedMs: number): string[] {
  const lines: string[] = [];
  const total = reach.applied.length + reach.idle.length + reach.neverSynced.length + reach.pending.length;
  const list = (names: string[]) => names.join(", ");
  lines.push(reach.applied.length ? `  applied at ${reach.applied.length} of ${total} POPs: ${list(reach.applied)}` : `  applied at no POP yet (of ${total})`);
  if (reach.idle.length) lines.push(`  idle, will apply it before answering their next request: ${list(reach.idle)}`);
  if (reach.neverSynced.length) lines.push(`  never synced, will load every purge before their first answer: ${list(reach.neverSynced)}`);
  if (reach.pending.length) lines.push(`  not yet applied (busy POPs still to hear of it): ${list(reach.pending)}`);
  else lines.push(`  no POP can serve what was purged (after ${waitedMs} ms)`);
  return lines;
}
