/**
 * Cache tags (Cache-Tag, Surrogate-Key): what an entry is purged by. The
 * limits are shared: a POP keeps at most these, and the control API refuses
 * a purge naming a tag no entry could carry.
 */

/** Tags per entry and characters per tag we keep (Cloudflare allows 1,024 bytes of Cache-Tag in total). */
export const MAX_TAGS = 64;
export const MAX_TAG_LENGTH = 128;

/** Cache-Tag is comma-separated, Surrogate-Key space-separated; both feed one tag set. */
export function responseTags(headers: Headers): string[] {
  const tags = new Set<string>();
  const add = (raw: string) => {
    const tag = raw.trim();
    if (tag && tag.length <= MAX_TAG_LENGTH && tags.size < MAX_TAGS) tags.add(tag);
  };
  headers.get("cache-tag")?.split(",").forEach(add);
  headers.get("surrogate-key")?.split(/\s+/).forEach(add);
  return [...tags];
}
