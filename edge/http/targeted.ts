/**
 * Which cache-control field governs Outpost (RFC 9213 targeted fields).
 *
 * The most specific field present wins and the less specific ones are ignored
 * entirely, as RFC 9213 §2.2 asks: Outpost-CDN-Cache-Control (ours alone), then
 * CDN-Cache-Control (every CDN), then Surrogate-Control (the older convention),
 * then Cache-Control. A targeted field that fails to parse to any directive is
 * treated as absent, so that garbage cannot switch off the origin's Cache-Control.
 */
import { parseCacheControl, splitListField, type CacheDirectives } from "./cache-control";

export const TARGETED_FIELDS = ["outpost-cdn-cache-control", "cdn-cache-control", "surrogate-control"] as const;
export type GoverningField = (typeof TARGETED_FIELDS)[number] | "cache-control";

/** Fields meant for Outpost only: they never reach the client. */
export const FIELDS_REMOVED_BEFORE_CLIENT = ["outpost-cdn-cache-control", "surrogate-control"] as const;

export interface GoverningDirectives {
  field: GoverningField;
  directives: CacheDirectives;
}

/** The device token Outpost announces in Surrogate-Capability (W3C Edge Architecture 1.0). */
export const SURROGATE_TARGET = "outpost";
export const SURROGATE_CAPABILITY = `${SURROGATE_TARGET}="Surrogate/1.0"`;

/**
 * Surrogate-Control members may name their surrogate with `;target`. Members
 * for Outpost win over untargeted ones; members for other surrogates are not ours.
 */
export function surrogateControlForUs(value: string): string {
  const ours: string[] = [];
  const everyone: string[] = [];
  for (const member of splitListField(value)) {
    const semicolon = member.lastIndexOf(";");
    const target = semicolon === -1 ? undefined : member.slice(semicolon + 1).trim().toLowerCase();
    if (target === undefined || target.includes('"') || target.includes("=")) everyone.push(member);
    else if (target === SURROGATE_TARGET) ours.push(member.slice(0, semicolon));
  }
  return (ours.length > 0 ? ours : everyone).join(", ");
}

export function governingDirectives(headers: Headers): GoverningDirectives {
  for (const field of TARGETED_FIELDS) {
    let value = headers.get(field);
    if (value === null) continue;
    if (field === "surrogate-control") value = surrogateControlForUs(value);
    const directives = parseCacheControl(value);
    if (directives.names.size > 0) return { field, directives };
  }
  return { field: "cache-control", directives: parseCacheControl(headers.get("cache-control")) };
}
