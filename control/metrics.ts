/**
 * Prometheus text exposition of what POPs report at each sync and what the
 * control plane knows about origins and purges. Pure.
 */
import type { HealthReport, PopSync } from "./state";
import { POP_COUNTERS } from "../edge/metrics/counters";

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}


export function renderMetrics(pops: PopSync[], health: HealthReport, purgeSeq: number, purgeRulesRetained = 0): string {
  const lines: string[] = [];
  for (const [key, { metric, help }] of Object.entries(POP_COUNTERS)) {
    lines.push(`# HELP ${metric} ${help}`, `# TYPE ${metric} counter`);
    for (const p of pops) lines.push(`${metric}{pop="${escapeLabel(p.name)}"} ${p.counters[key] ?? 0}`);
  }
  lines.push("# HELP outpost_origin_pop_requests_total Forward trips per POP and origin.", "# TYPE outpost_origin_pop_requests_total counter");
  for (const p of pops) for (const [origin, o] of Object.entries(p.origins)) lines.push(`outpost_origin_pop_requests_total{pop="${escapeLabel(p.name)}",origin="${escapeLabel(origin)}"} ${o.requests}`);
  lines.push("# HELP outpost_origin_pop_errors_total Failed forward trips per POP and origin.", "# TYPE outpost_origin_pop_errors_total counter");
  for (const p of pops) for (const [origin, o] of Object.entries(p.origins)) lines.push(`outpost_origin_pop_errors_total{pop="${escapeLabel(p.name)}",origin="${escapeLabel(origin)}"} ${o.errors}`);
  lines.push("# HELP outpost_origin_healthy 1 when the control plane considers the origin healthy.", "# TYPE outpost_origin_healthy gauge");
  for (const [origin, h] of Object.entries(health.origins)) lines.push(`outpost_origin_healthy{origin="${escapeLabel(origin)}"} ${h.healthy ? 1 : 0}`);
  lines.push("# HELP outpost_purge_seq The highest purge sequence number issued.", "# TYPE outpost_purge_seq gauge", `outpost_purge_seq ${purgeSeq}`);
  lines.push("# HELP outpost_purge_rules_retained Purge rules the control plane keeps (rows), within the retention window.", "# TYPE outpost_purge_rules_retained gauge", `outpost_purge_rules_retained ${purgeRulesRetained}`);
  lines.push("# HELP outpost_pop_purge_seq_applied The highest purge sequence number a POP has applied.", "# TYPE outpost_pop_purge_seq_applied gauge");
  for (const p of pops) lines.push(`outpost_pop_purge_seq_applied{pop="${escapeLabel(p.name)}"} ${p.purgeSeqApplied}`);
  lines.push("# HELP outpost_purge_lag_seconds Purge accepted to applied at the POP, for its latest purge.", "# TYPE outpost_purge_lag_seconds gauge");
  for (const p of pops) if (p.lastPurgeLagMs !== null) lines.push(`outpost_purge_lag_seconds{pop="${escapeLabel(p.name)}"} ${(p.lastPurgeLagMs / 1000).toFixed(3)}`);
  lines.push("# HELP outpost_pop_last_sync_timestamp_seconds When the POP last synced with the control plane.", "# TYPE outpost_pop_last_sync_timestamp_seconds gauge");
  for (const p of pops) lines.push(`outpost_pop_last_sync_timestamp_seconds{pop="${escapeLabel(p.name)}"} ${(p.lastSyncAt / 1000).toFixed(3)}`);
  return lines.join("\n") + "\n";
}
