/**
 * Client preconditions answered from a stored response (RFC 9110 §13.2.2),
 * evaluated in the order the RFC gives. Pure.
 */
import { parseHttpDate } from "./dates";

export type PreconditionOutcome = "proceed" | "not-modified" | "precondition-failed";

interface EntityTag {
  weak: boolean;
  opaque: string;
}

function parseEntityTag(value: string): EntityTag | undefined {
  const v = value.trim();
  const weak = v.startsWith("W/");
  const opaque = weak ? v.slice(2) : v;
  if (!/^"[^"]*"$/.test(opaque)) return undefined;
  return { weak, opaque };
}

/** Parses an If-Match / If-None-Match list; "*" is returned as the string "*". */
export function parseEntityTagList(value: string): EntityTag[] | "*" {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  for (const m of value.matchAll(/(?:W\/)?"[^"]*"/g)) {
    const tag = parseEntityTag(m[0]);
    if (tag) tags.push(tag);
  }
  return tags;
}

export function weakMatch(a: string, b: string): boolean {
  const x = parseEntityTag(a);
  const y = parseEntityTag(b);
  return x !== undefined && y !== undefined && x.opaque === y.opaque;
}

export function strongMatch(a: string, b: string): boolean {
  const x = parseEntityTag(a);
  const y = parseEntityTag(b);
  return x !== undefined && y !== undefined && !x.weak && !y.weak && x.opaque === y.opaque;
}

export function evaluatePreconditions(method: string, request: Headers, stored: Headers): PreconditionOutcome {
  const etag = stored.get("etag");
  // Without Last-Modified, the stored response's Date is the best modification time we have (RFC 9110 §13.1.3).
  const lastModified = parseHttpDate(stored.get("last-modified")) ?? parseHttpDate(stored.get("date"));

  const ifMatch = request.get("if-match");
  if (ifMatch !== null) {
    const list = parseEntityTagList(ifMatch);
    const ok = list === "*" || (etag !== null && list.some((t) => strongMatch(`${t.weak ? "W/" : ""}${t.opaque}`, etag)));
    if (!ok) return "precondition-failed";
  } else {
    const ifUnmodifiedSince = parseHttpDate(request.get("if-unmodified-since"));
    if (ifUnmodifiedSince !== undefined && lastModified !== undefined && lastModified > ifUnmodifiedSince) {
      return "precondition-failed";
    }
  }

  const ifNoneMatch = request.get("if-none-match");
  if (ifNoneMatch !== null) {
    const list = parseEntityTagList(ifNoneMatch);
    const matched = list === "*" || (etag !== null && list.some((t) => weakMatch(`${t.weak ? "W/" : ""}${t.opaque}`, etag)));
    if (matched) return method === "GET" || method === "HEAD" ? "not-modified" : "precondition-failed";
    return "proceed";
  }

  if (method === "GET" || method === "HEAD") {
    const ifModifiedSince = parseHttpDate(request.get("if-modified-since"));
    if (ifModifiedSince !== undefined && lastModified !== undefined && lastModified <= ifModifiedSince) {
      return "not-modified";
    }
  }
  return "proceed";
}

/** Header fields a 304 carries from the stored response (RFC 9110 §15.4.5). */
export const NOT_MODIFIED_FIELDS = ["cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"];
