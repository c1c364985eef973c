/**
 * What may be compressed, and the fields an encoded variant carries. Pure.
 */
import type { CompressionConfig } from "../../common/config";
import { frontCompressesStatus, frontCompressesType } from "../../common/http/front-compression";
import { parseCacheControl } from "../http/cache-control";
import type { Coding } from "../http/accept-encoding";

type Pairs = [string, string][];

function field(pairs: Pairs, name: string): string | undefined {
  return pairs.find(([n]) => n === name)?.[1];
}

function typeMatches(contentType: string, patterns: readonly string[]): boolean {
  const type = contentType.split(";")[0].trim().toLowerCase();
  return patterns.some((p) => (p.endsWith("/*") ? type.startsWith(p.slice(0, -1)) : type === p));
}

/**
 * Is this stored representation worth compressing? A compressible type,
 * big enough to gain, not past what is compressed at all (in the request or
 * in the background), not already encoded, and not marked no-transform.
 */
export function compressible(pairs: Pairs, status: number, size: number, config: CompressionConfig): boolean {
  if (!config.enabled || status !== 200) return false;
  if (size < config.minBytes || size > Math.max(config.maxBytes, config.backgroundMaxBytes)) return false;
  const encoding = field(pairs, "content-encoding");
  if (encoding && encoding.toLowerCase() !== "identity") return false;
  const type = field(pairs, "content-type");
  if (!type || !typeMatches(type, config.types)) return false;
  if (parseCacheControl(field(pairs, "cache-control")).noTransform) return false;
  return true;
}

/**
 * Whether Cloudflare's front compresses this answer itself when it goes out identity to a client
 * that takes a coding (its types and statuses, any size: common/http/front-compression.ts).
 */
export function frontMayEncode(pairs: Pairs, status: number): boolean {
  const encoding = field(pairs, "content-encoding");
  if (encoding && encoding.toLowerCase() !== "identity") return false;
  if (!frontCompressesStatus(status) || !frontCompressesType(field(pairs, "content-type"))) return false;
  return !parseCacheControl(field(pairs, "cache-control")).noTransform;
}

/** Adds Accept-Encoding to Vary (the representation now depends on it). */
/** Per stored field list, its form with Vary: Accept-Encoding: the same array on every hit (deliver prepares each once). */
const withVaryMemo = new WeakMap<Pairs, Pairs>();

export function withVaryAcceptEncoding(pairs: Pairs): Pairs {
  const memo = withVaryMemo.get(pairs);
  if (memo) return memo;
  const vary = field(pairs, "vary");
  let out = pairs;
  if (!vary?.split(",").some((v) => ["accept-encoding", "*"].includes(v.trim().toLowerCase()))) {
    out = pairs.filter(([n]) => n !== "vary");
    out.push(["vary", vary ? `${vary}, Accept-Encoding` : "Accept-Encoding"]);
  }
  withVaryMemo.set(pairs, out);
  return out;
}

/** An encoded variant's entity tag differs from the identity one's (RFC 9110 §8.8.3). */
export function encodedEtag(etag: string, coding: Coding): string {
  const m = /^(W\/)?"(.*)"$/.exec(etag.trim());
  if (!m) return etag;
  return `${m[1] ?? ""}"${m[2]}-${coding}"`;
}

export function encodedHeaders(pairs: Pairs, coding: Coding): Pairs {
  const out: Pairs = [];
  for (const [name, value] of withVaryAcceptEncoding(pairs)) {
    if (name === "content-length" || name === "content-encoding") continue;
    out.push([name, name === "etag" ? encodedEtag(value, coding) : value]);
  }
  out.push(["content-encoding", coding]);
  return out;
}
