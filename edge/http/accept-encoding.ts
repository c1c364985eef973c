/**
 * Content coding negotiation (RFC 9110 §12.5.3). Pure.
 */
import { parseQualityList } from "../../common/http/qvalues";

export type Coding = "br" | "zstd" | "gzip";
export type Negotiated = Coding | "identity" | "not-acceptable";

interface Accepted {
  q: number;
  /** Position in the client's list; codings matched only by `*` come after. */
  index: number;
}

/**
 * The coding to send, among those we can produce. Highest q wins; on a tie,
 * the client's own order, then ours. Following the client's order on ties is
 * what Cloudflare's front (and Miniflare's imitation of it) does when it
 * picks between gzip and br: choosing otherwise would make it transcode our
 * stored variant on every hit. `*` covers codings not named; identity is
 * acceptable unless `identity;q=0` (or `*;q=0` without identity named), but
 * preferred only when given a q of its own at least as high.
 */
export function negotiateEncoding(acceptEncoding: string | null | undefined, offered: readonly Coding[]): Negotiated {
  if (acceptEncoding === null || acceptEncoding === undefined || acceptEncoding.trim() === "") return "identity";
  const accepted = new Map<string, Accepted>();
  for (const { value, q, index } of parseQualityList(acceptEncoding)) {
    const key = value === "x-gzip" ? "gzip" : value;
    if (!accepted.has(key)) accepted.set(key, { q, index });
  }
  const star = accepted.get("*");
  const candidates = offered
    .map((coding, ours) => {
      const a = accepted.get(coding) ?? (star ? { q: star.q, index: Number.MAX_SAFE_INTEGER } : undefined);
      return a && a.q > 0 ? { coding, q: a.q, index: a.index, ours } : undefined;
    })
    .filter((c) => c !== undefined)
    .sort((a, b) => b.q - a.q || a.index - b.index || a.ours - b.ours);
  const best = candidates[0];
  const identityQ = accepted.get("identity")?.q ?? star?.q ?? 0.001;
  if (best && best.q >= identityQ) return best.coding;
  if (identityQ > 0) return "identity";
  return best ? best.coding : "not-acceptable";
}
