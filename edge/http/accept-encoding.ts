/**
 * Content coding negotiation (RFC 9110 §12.5.3). Pure.
 */
import { parseQualityList } from "../../common/http/qvalues";

export type Coding = "br" | "zstd" | "gzip";
export type Negotiated = Coding | "identity" | "not-acceptable";

interface Accepted {
  q: number;
}

/**
 * The coding to send, among those we can produce (`offered`, in our order of
 * preference). Highest q wins; on a tie, our order: a browser listing
 * `gzip, deflate, br, zstd` means it takes all four equally, and br or zstd
 * is the smaller answer (as Cloudflare's Compression Rules choose: the first
 * of the rule's algorithms the visitor supports). Cloudflare's front passes
 * an answer already encoded in a coding the client accepts through untouched;
 * Miniflare's imitation of it does not, so the local network puts a front of
 * production's kind before each POP (scripts/cloudflare-front.ts). `*` covers
 * codings not named; identity is acceptable unless `identity;q=0` (or `*;q=0`
 * without identity named), but preferred only when given a q of its own at
 * least as high.
 */
export function negotiateEncoding(acceptEncoding: string | null | undefined, offered: readonly Coding[]): Negotiated {
  if (acceptEncoding === null || acceptEncoding === undefined || acceptEncoding.trim() === "") return "identity";
  const accepted = new Map<string, Accepted>();
  for (const { value, q } of parseQualityList(acceptEncoding)) {
    const key = value === "x-gzip" ? "gzip" : value;
    if (!accepted.has(key)) accepted.set(key, { q });
  }
  const star = accepted.get("*");
  const candidates = offered
    .map((coding, ours) => {
      const a = accepted.get(coding) ?? star;
      return a && a.q > 0 ? { coding, q: a.q, ours } : undefined;
    })
    .filter((c) => c !== undefined)
    .sort((a, b) => b.q - a.q || a.ours - b.ours);
  const best = candidates[0];
  const identityQ = accepted.get("identity")?.q ?? star?.q ?? 0.001;
  if (best && best.q >= identityQ) return best.coding;
  if (identityQ > 0) return "identity";
  return best ? best.coding : "not-acceptable";
}
