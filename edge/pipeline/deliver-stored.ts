/**
 * deliver: a stored entry to the client, or its encoded variant when the
 * client accepts one (see chooseEncoding); and what every answer of a
 * transaction shares (the POP, debug, the tier it answers, its timings).
 */
import { knownSize } from "../cache/entry";
import { cancelBody, type Found } from "../cache/tiers";
import type { CompressionConfig } from "../../common/config";
import { compressible, frontMayEncode, withVaryAcceptEncoding } from "../compress/policy";
import { chooseEncoding, clientAcceptEncoding, encodedVariant, type EncodedVariant } from "../compress/variants";
import { deliver, type DeliverOptions, type HeaderPairs, type Representation } from "../deliver";
import type { CacheStatusEntry } from "../http/cache-status";
import { cacheResultOf } from "../metrics/cache-result";
import type { Transaction } from "../transaction";
import { done, type Step, type StepTo } from "./steps";

export function deliverState(tx: Transaction, step: StepTo<"deliver">): Step {
  return done(deliverStored(tx, step.found, step.cacheStatus, step.age, step.heldFields));
}

/** A stored entry as this client gets it; `heldFields` (no-cache="f") stay back from a reused answer. */
export function deliverStored(tx: Transaction, found: Found, cacheStatus: CacheStatusEntry, age: number, heldFields?: readonly string[]): Response | Promise<Response> {
  if (tx.pop.config.debug) cacheStatus.key = found.key;
  const choice = chooseEncoding(tx, found);
  const send = (rep: Representation, encoded: boolean) =>
    deliverTo(tx, heldFields ? { ...rep, headers: withoutFields(rep.headers, heldFields) } : rep, { cacheStatus, age, evaluateRequest: true, encoded });
  const stored = (headers: Representation["headers"]): Representation => ({ status: found.meta.status, headers, body: found.body, size: knownSize(found.meta) });
  if (choice.kind === "as-stored") {
    // A coding the origin applied (not gzip or br, which the runtime decoded) goes out as stored.
    const encoded = found.meta.headers.some(([n, v]) => n === "content-encoding" && v.trim().toLowerCase() !== "identity");
    return send(stored(found.meta.headers), encoded);
  }
  if (choice.kind === "identity") return send(stored(found.meta.headers), false);
  const sendEncoded = ({ headers, body, size }: EncodedVariant) => {
    if (tx.request.method === "GET") tx.pop.counters.compressionSavedBytes += Math.max(0, (knownSize(found.meta) ?? 0) - size);
    return send({ status: found.meta.status, headers, body, size }, true);
  };
  const variant = tx.pop.memory.get(choice.key);
  if (variant?.body && variant.record.kind === "entry") {
    void cancelBody(found.body);
    return sendEncoded({ headers: variant.record.meta.headers, body: variant.body, size: variant.body.byteLength });
  }
  return encodedVariant(tx, found, choice.coding, choice.key).then((v) => (v ? sendEncoded(v) : send(stored(found.meta.headers), false)));
}

function withoutFields(headers: Representation["headers"], names: readonly string[]): [string, string][] {
  return [...headers].filter(([name]) => !names.includes(name));
}

/**
 * deliver, with what every answer of this transaction shares: the POP, debug, the tier it answers,
 * its timings, and Vary: Accept-Encoding on a client's answer that may reach it encoded.
 */
export function deliverTo(tx: Transaction, rep: Representation, options: Pick<DeliverOptions, "cacheStatus" | "age" | "evaluateRequest" | "encoded">): Response {
  const pop = tx.pop;
  if (!pop.isShield) rep = withNegotiationVary(tx, rep);
  const response = deliver(tx.request, rep, { ...options, popName: pop.name, debug: pop.config.debug, toTier: pop.isShield, timing: tx.timing, onBodyBytes: pop.countServedBytes });
  pop.recordResponse(cacheResultOf(options.cacheStatus), response.status, Date.now() - tx.timing.startedAt);
  return response;
}

/** How an answer's coding is chosen: by us (its stored variants), or by the front alone. */
interface Negotiation {
  /** Stored variants may be made of it: every answer of it varies on Accept-Encoding. */
  ours: boolean;
  /** The front compresses it for a client that takes a coding (frontMayEncode). */
  front: boolean;
}

/** Per stored field list, how its coding is chosen: hits ask on every request. */
const negotiationMemo = new WeakMap<HeaderPairs, Negotiation>();

function negotiationOf(pairs: HeaderPairs, rep: Representation, config: CompressionConfig): Negotiation {
  return { ours: compressible(pairs, rep.status, rep.size ?? config.minBytes, config), front: frontMayEncode(pairs, rep.status) };
}

/**
 * `rep` with Vary: Accept-Encoding when its coding is negotiated (RFC 9110 §12.5.5): always when
 * we make variants of it, and when the front will compress it for this client (text of any size:
 * Cloudflare's front compresses identity text itself). Without it a cache downstream (a browser's,
 * a company's proxy) kept the front's brotli of a 600-byte page and gave it to the next client,
 * which asked for none; an identity answer without it is safe for any client. An entry's field
 * list is the same array on every hit.
 */
function withNegotiationVary(tx: Transaction, rep: Representation): Representation {
  const config = tx.pop.config.compression;
  const pairs = Array.isArray(rep.headers) ? rep.headers : [...rep.headers];
  let negotiation = Array.isArray(rep.headers) ? negotiationMemo.get(rep.headers) : undefined;
  if (!negotiation) {
    negotiation = negotiationOf(pairs, rep, config);
    if (Array.isArray(rep.headers)) negotiationMemo.set(rep.headers, negotiation);
  }
  const varies = negotiation.ours || (negotiation.front && takesACoding(tx));
  return varies ? { ...rep, headers: withVaryAcceptEncoding(pairs) } : rep;
}

/** Whether this client takes a coding (its own Accept-Encoding, as the front reads it). */
function takesACoding(tx: Transaction): boolean {
  const coding = tx.pop.negotiate(clientAcceptEncoding(tx));
  return coding !== "identity" && coding !== "not-acceptable";
}
