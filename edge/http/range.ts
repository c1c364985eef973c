/**
 * Byte ranges (RFC 9110 §14) served from a complete stored representation. Pure.
 * Only a single range is served as 206; a multi-range request gets the whole
 * representation (200), which the RFC allows and which avoids multipart bodies.
 */
import { strongMatch } from "./conditional";
import { parseHttpDate } from "./dates";

export type RangeOutcome = { kind: "full" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable" };

export function resolveRange(rangeHeader: string | null, size: number): RangeOutcome {
  if (rangeHeader === null) return { kind: "full" };
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(rangeHeader);
  if (!m) return { kind: "full" }; // an unknown range unit is ignored
  const specs = m[1]
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (specs.length !== 1) return { kind: "full" };
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]);
  if (!spec || (spec[1] === "" && spec[2] === "")) return { kind: "full" }; // invalid syntax: ignore the header
  if (spec[1] === "") {
    const suffix = Number(spec[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(spec[1]);
  let end = spec[2] === "" ? size - 1 : Number(spec[2]);
  if (spec[2] !== "" && end < start) return { kind: "full" }; // invalid: ignore
  if (start >= size) return { kind: "unsatisfiable" };
  end = Math.min(end, size - 1);
  return { kind: "partial", start, end };
}

/**
 * If-Range (§13.1.5): the Range applies only when the validator still names
 * the stored representation; otherwise the whole thing is sent.
 */
export function ifRangeAllowsPartial(ifRange: string | null, stored: Headers): boolean {
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    const etag = stored.get("etag");
    return etag !== null && strongMatch(value, etag);
  }
  const date = parseHttpDate(value);
  const lastModified = parseHttpDate(stored.get("last-modified"));
  return date !== undefined && lastModified !== undefined && date === lastModified;
}
