/**
 * Two independent 32-bit FNV-style hashes of a string, in one pass: a 64-bit
 * name for cache variants and purge names. Not cryptographic; collisions are
 * rare enough (about n²/2⁶⁵) and harmless where it is used.
 */
export function hash64(text: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
    h2 ^= h2 >>> 13;
  }
  // (0, 0) marks an empty slot in NameTimes.
  return h1 === 0 && h2 === 0 ? [0, 1] : [h1, h2 >>> 0];
}

/** The same hash as 16 hex digits. */
export function digest(text: string): string {
  const [h1, h2] = hash64(text);
  return h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}
