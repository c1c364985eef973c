/**
 * Prometheus text exposition of what POPs report at each sync and what the
 * control plane knows about origins and purges. Pure.
 */
import type { HealthReport, PopSync } from "./state";

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

const POP_COUNTERS: [string, string, string][] = [
  ["requests", "outpost_requests_total", "Requests a POP has handled."],
  ["hits", "outpost_cache_hits_total", "Requests answered from the cache (fresh or stale-while-revalidate)."],
  ["misses", "outpost_cache_misses_total", "Requests that found nothing stored."],
  ["staleServes", "outpost_stale_serves_total", "Stale responses served (stale-while-revalidate and stale-if-error)."],
  ["collapsed", "outpost_collapsed_total", "Requests that waited for another request's fill."],
  ["originRequests", "outpost_origin_requests_total", "Forward trips to origins."],
  ["originErrors", "outpost_origin_errors_total", "Forward trips that failed or got a 5xx."],
  ["retries", "outpost_retries_total", "Retries on another origin."],
  ["retriesDeniedByBudget", "outpost_retries_denied_total", "Retries refused by the retry budget."],
  ["shieldRequests", "outpost_shield_requests_total", "Misses a POP sent to a shield shard."],
  ["shieldBypasses", "outpost_shield_bypasses_total", "Misses that went to the origin directly because their shield shard was down, slow or ejected."],
];

export function renderMetrics(pops: PopSync[], health: HealthReport, purgeSeq: number, purgeRulesRetained = 0): string {
  const lines: string[] = [];
  for (const [key, name, help] of POP_COUNTERS) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const p of pops) lines.push(`${name}{pop="${escapeLabel(p.name)}"} ${p.counters[key] ?? 0}`);
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
