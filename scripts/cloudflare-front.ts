/**
 * Cloudflare's front, as production has it, in front of each local POP (the
 * network runs it in the POP's workerd, on the POP's public port).
 *
 * Miniflare's own entry worker imitates the front but re-encodes a Worker's
 * gzip or br answer to whichever of the two the client lists first: Chromium
 * (`gzip, deflate, br, zstd`) would get gzip for the br a POP stored. On
 * Cloudflare an answer already encoded in a coding the client accepts is
 * passed through (Content compression, "compression between Cloudflare and
 * website visitors"); only an identity answer of a compressible type is
 * compressed by the front. This front does exactly that, and otherwise what
 * Miniflare's does: it sets `request.cf` (the colo, the client's real
 * Accept-Encoding in `clientAcceptEncoding`), tells the Worker
 * `Accept-Encoding: br, gzip`, and names the client in CF-Connecting-IP.
 *
 * As on Cloudflare, request.cf.latitude/longitude (and city) are the
 * client's, not the colo's: here a client on the far side of the world (the
 * colo's antipode), so that anything taking them for the POP's place shows.
 *
 * As on Cloudflare, a colo has several isolates of the Worker, each its own
 * memory and figures, sharing the colo's Cache API: the front hands requests
 * to them in turn.
 *
 * It is bundled apart (esbuild, by network.ts) and never deployed.
 */
import { frontMayEncode } from "../edge/compress/policy";
import { parseQualityList, type QualityMember } from "../common/http/qvalues";

interface Service {
  fetch(request: Request): Promise<Response>;
}

interface FrontEnv {
  /** The POP's isolates (POP_0, POP_1...): one Worker each, as a colo runs one per server. */
  [isolate: `POP_${number}`]: Service;
  ISOLATES: number;
  /** The POP's request.cf: colo, city, coordinates (without the client's fields). */
  CF_BLOB: Record<string, unknown>;
}

/** The q the client gives a coding: its own member's, else `*`'s, else 0. */
function qualityOf(codings: QualityMember[], coding: string): number {
  return (codings.find((a) => a.value === coding) ?? codings.find((a) => a.value === "*"))?.q ?? 0;
}

/** The answer as the client gets it: passed through when it may, compressed or decoded when it must. */
function throughTheFront(response: Response, clientAcceptEncoding: string): Response {
  const codings = parseQualityList(clientAcceptEncoding);
  const encoding = response.headers.get("content-encoding");
  if (encoding !== null) {
    if (encoding === "identity" || qualityOf(codings, encoding) > 0) return response;
    // A coding the client does not take (it never asked): decoded on the way out, as the front does.
    if (encoding !== "gzip" && encoding !== "br") return response;
    const decoded = new Response(response.body, response);
    decoded.headers.delete("content-encoding");
    return decoded;
  }
  // The same decision a POP makes when it says Vary for the front (edge/compress/policy.ts).
  if (!frontMayEncode([...response.headers], response.status)) return response;
  // The runtime compresses a plain body it is told to send encoded. Brotli to a client that takes
  // it as readily as gzip, as Cloudflare serves it (Miniflare took the client's first-listed).
  const br = qualityOf(codings, "br");
  const gzip = qualityOf(codings, "gzip");
  const chosen = br > 0 && br >= gzip ? "br" : gzip > 0 ? "gzip" : undefined;
  if (!chosen) return response;
  const encoded = new Response(response.body, response);
  encoded.headers.set("content-encoding", chosen);
  // Other bytes than the ones the strong validator names (RFC 9110 §8.8.3): Cloudflare's front, as
  // nginx's gzip and Envoy's compressor, sends a strong ETag weak on what it compresses.
  const etag = encoded.headers.get("etag");
  if (etag?.startsWith('"')) encoded.headers.set("etag", `W/${etag}`);
  return encoded;
}

/** A client's place as request.cf gives it: the colo's antipode (Miniflare's cf has the colo's own). */
function farClient(colo: Record<string, unknown>): Record<string, string> {
  const latitude = Number(colo.latitude);
  const longitude = Number(colo.longitude);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return {};
  return { latitude: String(-latitude), longitude: String(longitude > 0 ? longitude - 180 : longitude + 180), city: "a client far away" };
}

/** The next isolate, in turn. */
let turn = 0;

export default {
  async fetch(request: Request, env: FrontEnv): Promise<Response> {
    const isolate = env[`POP_${turn++ % Math.max(1, env.ISOLATES)}`];
    const clientAcceptEncoding = request.headers.get("accept-encoding") ?? "";
    const headers = new Headers(request.headers);
    headers.set("accept-encoding", "br, gzip");
    // Locally every client is on loopback; a test may name a client of its own (as Miniflare allows).
    if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", "127.0.0.1");
    const forwarded = new Request(request, { headers, cf: { ...env.CF_BLOB, ...farClient(env.CF_BLOB), clientAcceptEncoding } } as RequestInit);
    return throughTheFront(await isolate.fetch(forwarded), clientAcceptEncoding);
  },
};
