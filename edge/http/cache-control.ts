/**
 * Cache-Control parsing (RFC 9111 §5.2). Also used for the targeted fields
 * CDN-Cache-Control (RFC 9213) and Surrogate-Control, which share its syntax.
 *
 * Parsing is forgiving where the RFC asks recipients to be: names are
 * case-insensitive, quoted-string values are accepted for delta-seconds, and
 * when a directive repeats the first occurrence wins (§4.2.1). A delta-seconds
 * value that is not a number makes the directive "invalid", which callers treat
 * as "stale" (the RFC's safe reading) rather than ignoring it.
 */

/** Largest delta-seconds a cache must represent (§1.2.2). */
export const DELTA_SECONDS_MAX = 2147483648;

export type DeltaSeconds = number | "invalid";

export interface CacheDirectives {
  maxAge?: DeltaSeconds;
  sMaxAge?: DeltaSeconds;
  maxStale?: DeltaSeconds | "any";
  minFresh?: DeltaSeconds;
  staleWhileRevalidate?: DeltaSeconds;
  staleIfError?: DeltaSeconds;
  noStore: boolean;
  /** true for bare `no-cache`; a list of field names for the qualified form. */
  noCache: boolean | string[];
  /** true for bare `private`; a list of field names for the qualified form. */
  private: boolean | string[];
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  mustUnderstand: boolean;
  noTransform: boolean;
  immutable: boolean;
  onlyIfCached: boolean;
  /** Every directive name seen, lower-cased, for "did the field carry anything?" checks. */
  names: Set<string>;
}

export function emptyDirectives(): CacheDirectives {
  return {
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    mustUnderstand: false,
    noTransform: false,
    immutable: false,
    onlyIfCached: false,
    names: new Set(),
  };
}

/** Splits a list-based field on commas that are not inside a quoted string. */
export function splitListField(value: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      current += ch;
      if (ch === "\\" && i + 1 < value.length) current += value[++i];
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
      current += ch;
    } else if (ch === ",") {
      parts.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current.trim());
  return parts.filter((p) => p.length > 0);
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  return value;
}

export function parseDeltaSeconds(raw: string | undefined): DeltaSeconds {
  if (raw === undefined) return "invalid";
  const value = unquote(raw.trim());
  if (!/^\d+$/.test(value)) return "invalid";
  const n = Number(value);
  return Math.min(n, DELTA_SECONDS_MAX);
}

function fieldNameList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return unquote(raw)
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** `no-cache` and `private`: bare (true), or a list of field names (an empty list reads as bare). */
function bareOrFields(raw: string | undefined): true | string[] {
  const fields = raw === undefined ? [] : fieldNameList(raw);
  return fields.length === 0 ? true : fields;
}

/** What each directive we understand sets; others are kept by name only (CacheDirectives.names). */
const DIRECTIVES: Record<string, (d: CacheDirectives, raw: string | undefined) => void> = {
  "max-age": (d, raw) => (d.maxAge = parseDeltaSeconds(raw)),
  "s-maxage": (d, raw) => (d.sMaxAge = parseDeltaSeconds(raw)),
  "max-stale": (d, raw) => (d.maxStale = raw === undefined ? "any" : parseDeltaSeconds(raw)),
  "min-fresh": (d, raw) => (d.minFresh = parseDeltaSeconds(raw)),
  "stale-while-revalidate": (d, raw) => (d.staleWhileRevalidate = parseDeltaSeconds(raw)),
  "stale-if-error": (d, raw) => (d.staleIfError = parseDeltaSeconds(raw)),
  "no-store": (d) => (d.noStore = true),
  "no-cache": (d, raw) => (d.noCache = bareOrFields(raw)),
  private: (d, raw) => (d.private = bareOrFields(raw)),
  public: (d) => (d.public = true),
  "must-revalidate": (d) => (d.mustRevalidate = true),
  "proxy-revalidate": (d) => (d.proxyRevalidate = true),
  "must-understand": (d) => (d.mustUnderstand = true),
  "no-transform": (d) => (d.noTransform = true),
  immutable: (d) => (d.immutable = true),
  "only-if-cached": (d) => (d.onlyIfCached = true),
};

export function parseCacheControl(value: string | null | undefined): CacheDirectives {
  const d = emptyDirectives();
  if (!value) return d;
  for (const part of splitListField(value)) {
    const eq = part.indexOf("=");
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const raw = eq === -1 ? undefined : part.slice(eq + 1).trim();
    if (!name) continue;
    const repeated = d.names.has(name);
    d.names.add(name);
    if (repeated) continue; // first occurrence wins (RFC 9111 §4.2.1)
    if (Object.hasOwn(DIRECTIVES, name)) DIRECTIVES[name](d, raw);
  }
  return d;
}

/** A number of seconds from a parsed directive, or undefined if absent; "invalid" reads as 0 (stale). */
export function secondsOf(value: DeltaSeconds | undefined): number | undefined {
  if (value === undefined) return undefined;
  return value === "invalid" ? 0 : value;
}
