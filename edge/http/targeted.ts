/**
 * Which cache-control field governs Outpost (RFC 9213 targeted fields).
 *
 * The most specific field present wins and the less specific ones are ignored
 * entirely, as RFC 9213 §2.2 asks: Outpost-CDN-Cache-Control (ours alone), then
 * CDN-Cache-Control (every CDN), then Surrogate-Control (the older convention),
 * then Cache-Control. The two CDN-Cache-Control fields are RFC 9651 Dictionary
 * structured fields (RFC 9213 §2.1): one that does not parse is ignored whole,
 * a member of the wrong type is ignored alone, and a field left with no valid
 * directive counts as absent, so that garbage cannot switch off the origin's
 * Cache-Control. Surrogate-Control predates structured fields and is read
 * with Cache-Control's syntax.
 */
import { parseDictionary, Token, type BareItem, type InnerList, type Item } from "structured-headers";
import { DELTA_SECONDS_MAX, emptyDirectives, parseCacheControl, splitListField, type CacheDirectives } from "./cache-control";

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
    const target =
      semicolon === -1
        ? undefined
        : member
            .slice(semicolon + 1)
            .trim()
            .toLowerCase();
    if (target === undefined || target.includes('"') || target.includes("=")) everyone.push(member);
    else if (target === SURROGATE_TARGET) ours.push(member.slice(0, semicolon));
  }
  return (ours.length > 0 ? ours : everyone).join(", ");
}

type DeltaDirective = "maxAge" | "sMaxAge" | "staleWhileRevalidate" | "staleIfError";
const DELTA_MEMBERS: Record<string, DeltaDirective> = {
  "max-age": "maxAge",
  "s-maxage": "sMaxAge",
  "stale-while-revalidate": "staleWhileRevalidate",
  "stale-if-error": "staleIfError",
};
type FlagDirective = "noStore" | "public" | "mustRevalidate" | "proxyRevalidate" | "mustUnderstand" | "noTransform" | "immutable";
const FLAG_MEMBERS: Record<string, FlagDirective> = {
  "no-store": "noStore",
  public: "public",
  "must-revalidate": "mustRevalidate",
  "proxy-revalidate": "proxyRevalidate",
  "must-understand": "mustUnderstand",
  "no-transform": "noTransform",
  immutable: "immutable",
};

/** Field names of a qualified private / no-cache: a String ("a, b") or an Inner List of Tokens or Strings. */
function fieldNames(value: BareItem | Item[]): string[] | undefined {
  if (typeof value === "string")
    return value
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);
  if (!Array.isArray(value)) return undefined;
  const names: string[] = [];
  for (const [item] of value) {
    if (item instanceof Token) names.push(item.toString().toLowerCase());
    else if (typeof item === "string") names.push(item.toLowerCase());
    else return undefined;
  }
  return names;
}

/**
 * A CDN-Cache-Control value as directives; undefined when it is not a valid
 * Dictionary. Members of the wrong type (max-age="10", public=3) are dropped.
 */
export function parseCdnCacheControl(value: string): CacheDirectives | undefined {
  let dictionary: Map<string, Item | InnerList>;
  try {
    dictionary = parseDictionary(value);
  } catch {
    return undefined;
  }
  const d = emptyDirectives();
  for (const [name, member] of dictionary) {
    const bare = member[0];
    const delta = DELTA_MEMBERS[name];
    if (delta) {
      if (typeof bare !== "number" || !Number.isInteger(bare) || bare < 0) continue;
      d[delta] = Math.min(bare, DELTA_SECONDS_MAX);
    } else if (FLAG_MEMBERS[name]) {
      if (bare !== true) continue;
      d[FLAG_MEMBERS[name]] = true;
    } else if (name === "private" || name === "no-cache") {
      const names = bare === true ? true : fieldNames(bare);
      if (names === undefined) continue;
      const qualified = names === true || names.length === 0 ? true : names;
      if (name === "private") d.private = qualified;
      else d.noCache = qualified;
    }
    // Unknown members are extensions: noted, never obeyed.
    d.names.add(name);
  }
  return d;
}

function directivesOf(field: (typeof TARGETED_FIELDS)[number], value: string): CacheDirectives | undefined {
  if (field === "surrogate-control") return parseCacheControl(surrogateControlForUs(value));
  return parseCdnCacheControl(value);
}

export function governingDirectives(headers: Headers): GoverningDirectives {
  for (const field of TARGETED_FIELDS) {
    const value = headers.get(field);
    if (value === null) continue;
    const directives = directivesOf(field, value);
    if (directives && directives.names.size > 0) return { field, directives };
  }
  return { field: "cache-control", directives: parseCacheControl(headers.get("cache-control")) };
}
