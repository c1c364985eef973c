/**
 * What Cloudflare's front compresses on its way to a client by itself (its
 * documented list, the common part: "Content compression", compression
 * between Cloudflare and website visitors): identity answers of these types,
 * of any size, with a status of 200, 403 or 404, unless `no-transform`. Any
 * such answer of a POP may reach its client encoded, so it must say that it
 * varies on Accept-Encoding (edge/compress/policy.ts); the local network's
 * front (scripts/cloudflare-front.ts) compresses by the same list.
 */
const FRONT_COMPRESSIBLE_TYPE =
  /^(text\/|application\/(javascript|x-javascript|json|xml|rss\+xml|atom\+xml|manifest\+json|ld\+json|wasm|vnd\.api\+json|xhtml\+xml)|image\/svg\+xml|font\/(ttf|otf))/;

/** The statuses the front compresses: successes, and of the errors only 403 and 404. */
const FRONT_COMPRESSIBLE_STATUSES = new Set([200, 403, 404]);

/** Whether the front compresses an identity answer of this media type (Content-Type's, parameters and case aside). */
export function frontCompressesType(contentType: string | null | undefined): boolean {
  return FRONT_COMPRESSIBLE_TYPE.test((contentType ?? "").split(";")[0].trim().toLowerCase());
}

export function frontCompressesStatus(status: number): boolean {
  return FRONT_COMPRESSIBLE_STATUSES.has(status);
}
