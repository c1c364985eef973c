/**
 * Cache keys. The primary key is the request URL with the scheme and port
 * dropped (an object is the same whichever way the client came in) and the
 * query normalized as configured. A variant key adds the normalized values of
 * the request headers the response varies on (the Cache API ignores Vary, so
 * variants need keys of their own).
 */
import type { CacheKeyConfig } from "./config";
import { parseQualityList } from "./http/qvalues";
import { digest } from "./hash";

/**
 * Paths every site reserves for the POP itself (like Cloudflare's /cdn-cgi/):
 * its status page, and the internal cache keys below. A client request for
 * one, after the key's own path normalisation, is answered 404 by the POP
 * (edge/pipeline/index.ts), never looked up, stored or forwarded, so no
 * request maps onto an internal key.
 */
export const RESERVED_PATH_PREFIX = "/__outpost/";

/** Is this request path (as its key would hold it) one of the POP's own? */
export function isReservedPath(pathname: string): boolean {
  return normalizePath(pathname).startsWith(RESERVED_PATH_PREFIX);
}

/**
 * A key of our own for `of` (a primary or variant key), e.g. internalKey("variant", [digest], primary).
 * On the zone's own host, as Cloudflare's Cache API wants its keys (and so that a purge of the host
 * through Cloudflare's API reaches them too), under the reserved prefix.
 */
export function internalKey(kind: "variant" | "encoded", parts: readonly string[], of: string): string {
  return `https://${new URL(of).host}${RESERVED_PATH_PREFIX}internal/${kind}/${parts.map(encodeURIComponent).join("/")}?of=${encodeURIComponent(of)}`;
}

function ignoredParam(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p));
}

function decodedName(part: string): string {
  const eq = part.indexOf("=");
  const raw = eq === -1 ? part : part.slice(0, eq);
  if (!raw.includes("%") && !raw.includes("+")) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    return raw; // a broken escape is kept as written
  }
}

/**
 * The query as it goes into the key: ignored parameters dropped, sorted by
 * name if configured, everything else byte for byte as the client sent it.
 * Plain string work: the hit path runs this on every request.
 */
export function normalizeQuery(search: string, config: CacheKeyConfig): string {
  if (!search || search === "?") return "";
  const parts = search
    .slice(1)
    .split("&")
    .filter((p) => p !== "");
  let kept = parts.map((part) => ({ part, name: decodedName(part) })).filter((p) => !ignoredParam(p.name, config.ignoreQueryParams));
  if (config.sortQuery) kept = kept.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (kept.length === 0) return "";
  return `?${kept.map((p) => p.part).join("&")}`;
}

/** Unreserved characters (RFC 3986 §2.3): percent-encoding one of them changes nothing. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * A path in its normal form (RFC 3986 §6.2.2): percent-encoded unreserved
 * characters decoded, other escapes in upper case. `/%69ndex.html` and
 * `/index.html` are one resource, so one key, one purge, one origin path. The
 * URL parser has already resolved dot segments.
 */
export function normalizePath(pathname: string): string {
  if (!pathname.includes("%")) return pathname;
  return pathname.replace(/%([0-9A-Fa-f]{2})/g, (escaped: string, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : escaped.toUpperCase();
  });
}

/** The primary cache key of a request URL, itself an https URL (the Cache API wants one). */
export function primaryKey(url: URL, config: CacheKeyConfig): string {
  return `https://${url.hostname.toLowerCase()}${normalizePath(url.pathname)}${normalizeQuery(url.search, config)}`;
}

/** How selecting header values are normalized; `languages` comes from cache.vary.languages. */
export interface VaryNormalization {
  /** Languages the sites offer: Accept-Language collapses to the best of these. */
  languages?: readonly string[];
}

interface Weighted {
  value: string;
  q: number;
}

/** A q-value list's acceptable members (q > 0). */
export function weightedList(value: string): Weighted[] {
  return parseQualityList(value).filter((m) => m.q > 0);
}

/** Best of `offered` for an Accept-Language list (RFC 4647 lookup, prefixes match); "" when none. */
function bestLanguage(accepted: Weighted[], offered: readonly string[]): string {
  const byPreference = [...accepted].sort((a, b) => b.q - a.q);
  for (const { value } of byPreference) {
    if (value === "*") return offered[0] ?? "";
    for (let range = value; range; range = range.includes("-") ? range.slice(0, range.lastIndexOf("-")) : "") {
      const hit = offered.find((o) => o.toLowerCase() === range);
      if (hit) return hit.toLowerCase();
    }
  }
  return "";
}

/**
 * How request header values are normalized before they select a variant, so
 * that the many spellings of one preference share one entry:
 * Accept-Encoding collapses to the coding we would pick; Accept-Language to
 * the best configured language, or else to its members ordered by q-value
 * (ties by name, since equal q-values carry no order); other fields fold
 * whitespace, and case only where their values compare without it.
 */
export function normalizeVaryValue(field: string, value: string | null, options: VaryNormalization = {}): string {
  if (value === null) return "";
  if (field === "accept-encoding") {
    const codings = weightedList(value).map((w) => w.value);
    if (codings.includes("br")) return "br";
    if (codings.includes("gzip")) return "gzip";
    return "";
  }
  if (field === "accept-language") {
    const accepted = weightedList(value);
    if (options.languages && options.languages.length > 0) return bestLanguage(accepted, options.languages);
    return accepted
      .sort((a, b) => b.q - a.q || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
      .map((w) => (w.q === 1 ? w.value : `${w.value};q=${w.q}`))
      .join(",");
  }
  const folded = value
    .split(",")
    .map((v) => v.trim().replace(/\s+/g, " "))
    .filter(Boolean)
    .join(",");
  // Case folds only where the field's grammar says case means nothing: a Cookie or an
  // Authorization that differs in case is another user's.
  return CASE_INSENSITIVE_VARY_FIELDS.has(field) ? folded.toLowerCase() : folded;
}

/** Fields whose values are media types, charsets and the like, which compare without case (RFC 9110 §8.3.1, §12.5). */
const CASE_INSENSITIVE_VARY_FIELDS = new Set(["accept", "accept-charset"]);

/** Field names from a Vary header, lower-cased, deduplicated, sorted. */
export function varyFields(vary: string | null): string[] {
  if (!vary) return [];
  return [
    ...new Set(
      vary
        .split(",")
        .map((f) => f.trim().toLowerCase())
        .filter(Boolean),
    ),
  ].sort();
}

export function variantKey(primary: string, fields: readonly string[], requestHeaders: Headers, options: VaryNormalization = {}): string {
  const selector = fields.map((f) => `${f}:${normalizeVaryValue(f, requestHeaders.get(f), options)}`).join("\n");
  return internalKey("variant", [digest(selector)], primary);
}

/** A purge URL or prefix as a cache-key prefix: `https://host/path`, whatever scheme was given. */
export function keyPrefixOf(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  const url = new URL(withScheme);
  return `https://${url.hostname.toLowerCase()}${normalizePath(url.pathname)}${url.search}`;
}
