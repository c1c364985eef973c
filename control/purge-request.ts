/**
 * Validating a purge request: Cloudflare's body, so existing tooling fits,
 * plus "soft". Every problem names its field or item. Pure.
 *   {"files": [...], "tags": [...], "prefixes": [...], "hosts": [...], "purge_everything": true, "soft": true}
 */
import { z } from "zod";
import { fieldProblems, type FieldProblem } from "../common/zod-issues";
import type { OutpostConfig, SiteConfig } from "../common/config";
import { primaryKey } from "../common/cache-key";
import { keyPrefixOf } from "../common/cache-key";
import { MAX_TAG_LENGTH } from "../common/cache-tags";
import type { PurgeTarget } from "../common/snapshot";

/** Items per call, as Cloudflare allows. */
export const MAX_PURGE_ITEMS = 100;

/** Cloudflare's purge body (https://developers.cloudflare.com/api/resources/cache/methods/purge/), plus soft. */
export const PurgeBodySchema = z
  .object({
    files: z.array(z.union([z.string().min(1), z.object({ url: z.string().min(1), headers: z.record(z.string(), z.string()).optional() }).strict()])).optional(),
    tags: z.array(z.string().min(1).max(MAX_TAG_LENGTH)).optional(),
    prefixes: z.array(z.string().min(1).max(2048)).optional(),
    hosts: z.array(z.string().min(1).max(253)).optional(),
    purge_everything: z.literal(true).optional(),
    soft: z.boolean().optional(),
  })
  .strict();

/** What is wrong with one field of a purge request (the same shape as every field problem we report). */
export type Problem = FieldProblem;

export type PurgeRequest = { ok: true; targets: PurgeTarget[]; soft: boolean } | { ok: false; problems: Problem[] };

/**
 * `zone`: the site a Cloudflare-style zone path names; its purge reaches that
 * site's hosts only (purge_everything included, as on Cloudflare).
 */
export function parsePurgeRequest(body: unknown, config: OutpostConfig, zone?: SiteConfig): PurgeRequest {
  const parsed = PurgeBodySchema.safeParse(body);
  if (!parsed.success) {
    return { ok: false, problems: fieldProblems(parsed.error, "(body)") };
  }
  const b = parsed.data;
  const problems: Problem[] = [];
  const hosts = new Set((zone ? [zone] : config.sites).flatMap((s) => s.hosts));
  const notHere = zone ? `not a host of zone ${zone.hosts[0]}` : "not a configured host";
  const lists = [b.files, b.tags, b.prefixes, b.hosts].filter((l) => l !== undefined);
  const count = lists.reduce((n, l) => n + l!.length, 0);
  if (b.purge_everything) {
    if (count > 0) problems.push({ field: "purge_everything", message: "cannot be combined with files, tags, prefixes or hosts" });
    if (problems.length) return { ok: false, problems };
    // A zone's everything is its own hosts; Outpost's is every site's.
    const everything: PurgeTarget[] = zone ? zone.hosts.map((h) => ({ kind: "host", value: h })) : [{ kind: "everything" }];
    return { ok: true, targets: everything, soft: b.soft ?? false };
  }
  if (count === 0) problems.push({ field: "(body)", message: "name something to purge: files, tags, prefixes, hosts, or purge_everything: true" });
  if (count > MAX_PURGE_ITEMS) problems.push({ field: "(body)", message: `at most ${MAX_PURGE_ITEMS} items per call, got ${count}` });

  const targets: PurgeTarget[] = [];
  b.files?.forEach((file, i) => {
    const raw = typeof file === "string" ? file : file.url;
    let url: URL;
    try {
      url = new URL(raw);
      if (!/^https?:$/.test(url.protocol)) throw new Error("scheme");
    } catch {
      problems.push({ field: `files[${i}]`, message: `"${raw.slice(0, 200)}" is not an absolute http(s) URL` });
      return;
    }
    if (!hosts.has(url.hostname.toLowerCase())) problems.push({ field: `files[${i}]`, message: `host "${url.hostname}" is ${notHere}` });
    else targets.push({ kind: "url", value: primaryKey(url, config.cache.key) });
  });
  b.prefixes?.forEach((prefix, i) => {
    let value: string;
    try {
      value = keyPrefixOf(prefix);
    } catch {
      problems.push({ field: `prefixes[${i}]`, message: `"${prefix.slice(0, 200)}" is not a host and path` });
      return;
    }
    const host = new URL(value).hostname;
    if (!hosts.has(host)) problems.push({ field: `prefixes[${i}]`, message: `host "${host}" is ${notHere}` });
    else targets.push({ kind: "prefix", value });
  });
  b.hosts?.forEach((host, i) => {
    const h = host.toLowerCase();
    if (!hosts.has(h)) problems.push({ field: `hosts[${i}]`, message: `"${host}" is ${notHere}` });
    else targets.push({ kind: "host", value: h });
  });
  b.tags?.forEach((tag, i) => {
    if (/[\s,]/.test(tag)) problems.push({ field: `tags[${i}]`, message: "a tag has no spaces or commas" });
    else targets.push({ kind: "tag", value: tag });
  });
  if (problems.length) return { ok: false, problems };
  return { ok: true, targets, soft: b.soft ?? false };
}
