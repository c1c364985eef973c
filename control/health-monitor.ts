/**
 * Active health checks, as the control plane runs them: one probe per origin
 * per interval; consecutive results move an origin between up and down
 * (thresholds as in Envoy and Cloudflare Load Balancing). `applyProbe` is
 * pure; `probeOrigin` does the one fetch.
 */
import { ZONE_CACHE_BYPASS } from "../common/http/zone-cache";
import type { ActiveHealth, HealthTransition } from "./views";
import type { MonitorConfig } from "../common/config";

export interface ProbeResult {
  ok: boolean;
  /** Why it failed, or "status 200". */
  detail: string;
  latencyMs: number | null;
}

/** Origins start up: an origin is trusted until probes say otherwise. */
export function initialHealth(now: number): ActiveHealth {
  return { healthy: true, since: now, consecutiveSuccesses: 0, consecutiveFailures: 0, lastCheckAt: 0, lastResult: "not checked yet", latencyMs: null };
}

export function applyProbe(
  originId: string,
  previous: ActiveHealth,
  result: ProbeResult,
  monitor: MonitorConfig,
  now: number,
): { health: ActiveHealth; transition?: HealthTransition } {
  const health: ActiveHealth = {
    ...previous,
    consecutiveSuccesses: result.ok ? previous.consecutiveSuccesses + 1 : 0,
    consecutiveFailures: result.ok ? 0 : previous.consecutiveFailures + 1,
    lastCheckAt: now,
    lastResult: result.detail,
    latencyMs: result.latencyMs,
  };
  if (previous.healthy && health.consecutiveFailures >= monitor.unhealthyThreshold) {
    health.healthy = false;
    health.since = now;
    return { health, transition: { originId, at: now, from: "up", to: "down", reason: `${health.consecutiveFailures} failed probes, last: ${result.detail}` } };
  }
  if (!previous.healthy && health.consecutiveSuccesses >= monitor.healthyThreshold) {
    health.healthy = true;
    health.since = now;
    return { health, transition: { originId, at: now, from: "down", to: "up", reason: `${health.consecutiveSuccesses} successful probes` } };
  }
  return { health };
}

/** Listed codes when the monitor names them; otherwise any answer that is not a server error. */
export function isExpectedStatus(status: number, expectedCodes: readonly number[] | undefined): boolean {
  return expectedCodes ? expectedCodes.includes(status) : status < 500;
}

export async function probeOrigin(baseUrl: string, monitor: MonitorConfig, fetcher: typeof fetch = fetch): Promise<ProbeResult> {
  const started = Date.now();
  try {
    const response = await fetcher(baseUrl.replace(/\/+$/, "") + monitor.path, {
      method: monitor.method,
      headers: { "user-agent": "Outpost-HealthCheck/1", ...monitor.headers },
      redirect: "manual",
      // A probe asks the origin, never a copy in the zone's cache (common/http/zone-cache.ts).
      ...ZONE_CACHE_BYPASS,
      signal: AbortSignal.timeout(monitor.timeoutMs),
    });
    const latencyMs = Date.now() - started;
    if (!isExpectedStatus(response.status, monitor.expectedCodes)) {
      await response.body?.cancel();
      return { ok: false, detail: `status ${response.status}, expected ${monitor.expectedCodes?.join("/") ?? "below 500"}`, latencyMs };
    }
    if (monitor.expectedBody !== undefined) {
      const body = await response.text();
      if (!body.includes(monitor.expectedBody)) return { ok: false, detail: `body lacks "${monitor.expectedBody}"`, latencyMs };
    } else {
      await response.body?.cancel();
    }
    return { ok: true, detail: `status ${response.status}`, latencyMs };
  } catch (err) {
    const name = (err as Error).name;
    const detail = name === "TimeoutError" || name === "AbortError" ? `no answer within ${monitor.timeoutMs} ms` : `connection failed: ${(err as Error).message}`;
    return { ok: false, detail, latencyMs: null };
  }
}

export type { ActiveHealth, HealthTransition } from "./views";
