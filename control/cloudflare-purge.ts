/**
 * Cloudflare's own cache purge (POST /zones/{zone_id}/purge_cache), so that
 * Cache API entries in every colo go too. One call per kind of target, as the
 * API takes one kind per call; at most 100 items per call.
 * https://developers.cloudflare.com/api/resources/cache/methods/purge/
 */
import type { PurgeRule, PurgeTarget } from "../common/snapshot";
import type { CloudflarePurgeCall, CloudflarePurgeResult } from "./views";

export type { CloudflarePurgeCall, CloudflarePurgeResult } from "./views";

export interface CloudflarePurgeOptions {
  zoneId: string;
  apiToken: string;
  /** https://api.cloudflare.com/client/v4 unless a test points it at a fake. */
  apiBase?: string;
  fetcher?: typeof fetch;
}

const BATCH = 100;

/** The request bodies for one rule, in Cloudflare's format. */
export function cloudflarePurgeBodies(targets: readonly PurgeTarget[]): Record<string, unknown>[] {
  if (targets.some((t) => t.kind === "everything")) return [{ purge_everything: true }];
  const groups: Record<"files" | "prefixes" | "tags" | "hosts", string[]> = { files: [], prefixes: [], tags: [], hosts: [] };
  for (const t of targets) {
    if (t.kind === "url") groups.files.push(t.value);
    else if (t.kind === "prefix") groups.prefixes.push(t.value.replace(/^https:\/\//, ""));
    else if (t.kind === "tag") groups.tags.push(t.value);
    else if (t.kind === "host") groups.hosts.push(t.value);
  }
  const bodies: Record<string, unknown>[] = [];
  for (const [field, values] of Object.entries(groups)) {
    for (let i = 0; i < values.length; i += BATCH) bodies.push({ [field]: values.slice(i, i + BATCH) });
  }
  return bodies;
}

export async function purgeOnCloudflare(rule: PurgeRule, options: CloudflarePurgeOptions): Promise<CloudflarePurgeResult> {
  const fetcher = options.fetcher ?? fetch;
  const base = (options.apiBase ?? "https://api.cloudflare.com/client/v4").replace(/\/+$/, "");
  const calls: CloudflarePurgeCall[] = [];
  // Soft purges stay ours: Cloudflare's API has no "mark stale", and our rule handles them at lookup.
  if (rule.soft) return { ok: true, calls };
  for (const body of cloudflarePurgeBodies(rule.targets)) {
    try {
      const response = await fetcher(`${base}/zones/${encodeURIComponent(options.zoneId)}/purge_cache`, {
        method: "POST",
        headers: { authorization: `Bearer ${options.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const json = (await response.json().catch(() => ({}))) as { success?: boolean; errors?: { code: number; message: string }[] };
      calls.push({ body, status: response.status, success: json.success === true, errors: json.errors ?? [] });
    } catch (err) {
      calls.push({ body, status: 0, success: false, errors: [{ code: 0, message: (err as Error).message }] });
    }
  }
  return { ok: calls.every((c) => c.success), calls };
}
