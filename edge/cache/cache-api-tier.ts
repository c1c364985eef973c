/**
 * The POP's Cache API tier (caches.default). Thin on purpose: it turns our
 * records into stored Responses and back. Facts that shape it (PLATFORM.md):
 * the Cache API forgets an entry when its own max-age ends, so entries are
 * stored for their whole retention and freshness lives in our record; it
 * ignores Vary, so variants have their own keys; it refuses 206 and Vary: *,
 * so the stored response is always a plain 200 and the real status is in the record.
 */
import { decodeRecord, encodeRecord, META_HEADER, type StoredRecord, UNKNOWN_SIZE } from "./entry";
import type { CacheStore, StoreBody } from "./store";
import { sendByRuntime } from "../framed-body";

export interface CacheApiItem {
  record: StoredRecord;
  body: ReadableStream<Uint8Array> | null;
  /** Content length of the stored body. */
  size: number;
  storedAt: number;
}

const STORED_AT_HEADER = "x-outpost-stored-at";

/**
 * How long a failed put's partial entry may take to land in the store after the put rejected: a
 * 2 MB miss stalled past its first MiB was found stored, short, after the first delete (e2e).
 */
const FAILED_PUT_SETTLE_MS = 500;

export class CacheApiTier implements CacheStore {
  constructor(private readonly cache: Cache) {}

  async get(key: string): Promise<CacheApiItem | undefined> {
    let response: Response | undefined;
    try {
      response = await this.cache.match(new Request(key));
    } catch {
      return undefined; // an unreadable entry is a miss, not an error for the client
    }
    if (!response) return undefined;
    const record = decodeRecord(response.headers.get(META_HEADER));
    if (!record) {
      await response.body?.cancel();
      return undefined;
    }
    return {
      record,
      body: response.body,
      size: Number(response.headers.get("content-length") ?? 0),
      storedAt: Number(response.headers.get(STORED_AT_HEADER) ?? 0),
    };
  }

  /**
   * The Cache API answers a Range itself, with only those bytes (PLATFORM.md). Its 206 must be of
   * the same entry (put at the same time, of the same size: another put may have replaced it since
   * the lookup) and of exactly the range asked, or the client's Content-Length would be wrong.
   */
  async getRange(key: string, start: number, end: number, stored: { storedAt: number; size: number }): Promise<ReadableStream<Uint8Array> | undefined> {
    let response: Response | undefined;
    try {
      response = await this.cache.match(new Request(key, { headers: { range: `bytes=${start}-${end}` } }));
    } catch {
      return undefined;
    }
    if (!response) return undefined;
    const sameEntry = Number(response.headers.get(STORED_AT_HEADER) ?? 0) === stored.storedAt;
    const exactRange = response.headers.get("content-range") === `bytes ${start}-${end}/${stored.size}`;
    if (response.status !== 206 || !sameEntry || !exactRange || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      return undefined;
    }
    return response.body;
  }

  async put(key: string, record: StoredRecord, body: StoreBody, retentionSeconds: number, storedAt: number): Promise<void> {
    const headers = new Headers({
      "cache-control": `public, max-age=${Math.max(1, Math.ceil(retentionSeconds))}`,
      [META_HEADER]: encodeRecord(record),
      [STORED_AT_HEADER]: String(storedAt),
    });
    // Cache-Tag on the stored response lets Cloudflare's purge-by-tag reach it in every colo.
    if (record.kind === "entry" && record.meta.tags.length > 0) headers.set("cache-tag", record.meta.tags.join(","));
    try {
      await this.cache.put(new Request(key), new Response(withDeclaredLength(readInPlace(body), record), { status: 200, headers }));
    } catch (err) {
      // A put whose body failed part-way can leave the bytes it got under Miniflare, with the
      // Content-Length it was given: every hit on it would be cut off. Its store may still be
      // writing them when the put rejects, so the entry is deleted now and once more after that.
      await this.delete(key);
      await new Promise((settled) => setTimeout(settled, FAILED_PUT_SETTLE_MS));
      await this.delete(key);
      throw err;
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      return await this.cache.delete(new Request(key));
    } catch {
      return false;
    }
  }
}

/** Above this, a whole body goes to the put as a stream of itself (readInPlace). */
const READ_IN_PLACE_ABOVE_BYTES = 64 * 1024;

/**
 * A large whole body as a stream of its one chunk, which the put reads where it lies: given the
 * bytes themselves, `new Response(bytes)` copies them first, into fresh pages (by hand under raw
 * workerd, a stored 1 MiB miss cost the POP 11.7-12.1 ms of CPU so, 14.2-15.4 with the copy). Not
 * a byte stream, which would take the buffer from the memory tier that shares it.
 */
function readInPlace(body: StoreBody): StoreBody {
  if (!(body instanceof Uint8Array) || body.byteLength <= READ_IN_PLACE_ABOVE_BYTES) return body;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(body);
      controller.close();
    },
  });
}

/**
 * A streamed body of a known size, as a stream of that length: the store is
 * told the length up front (under Miniflare a put of 30 MB of unknown length
 * took 300-600 ms, of a declared one 30), and a body that ends short or runs
 * long fails the put instead of being kept as the whole entry. A stream that
 * is already the runtime's of that length (a miss sent and stored in step) is
 * taken as it is.
 */
function withDeclaredLength(body: StoreBody, record: StoredRecord): StoreBody {
  if (!(body instanceof ReadableStream) || record.kind !== "entry" || record.meta.size === UNKNOWN_SIZE) return body;
  return sendByRuntime(body, record.meta.size) ?? body.pipeThrough(new FixedLengthStream(record.meta.size));
}
