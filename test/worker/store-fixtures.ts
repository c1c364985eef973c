/** What the store tests put and compare: an entry's record, bodies of known bytes, and their reading. */
import type { EntryMeta, StoredRecord } from "../../edge/cache/entry";

export function entry(size: number): StoredRecord {
  const meta: EntryMeta = {
    v: 1,
    key: "https://cdn.test/x",
    status: 200,
    headers: [["content-type", "text/plain"]],
    requestTime: 1,
    responseTime: 2,
    initialAge: 0,
    freshness: 60,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    mustRevalidate: false,
    noCache: false,
    tags: ["t"],
    size,
    originId: "o",
  };
  return { kind: "entry", meta };
}

export function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * seed) % 251;
  return out;
}

/** Byte equality without a deep-equal walk over millions of elements. */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function bodyOf(body: ReadableStream<Uint8Array> | Uint8Array | null): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  return body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
}
