/**
 * The shield's store: Durable Object SQLite storage. A row per entry
 * (record, times, size), its body in chunks of 1 MiB (a row must stay under
 * about 2 MB), written as it arrives and read as the reader pulls, so memory
 * holds a chunk, not a body, a retention after which it reads as absent, and a bound on the
 * bytes held (keys and records too): the entries stored longest ago go first.
 */
import { decodeRecord, encodeRecord, type StoredRecord, UNKNOWN_SIZE } from "./entry";
import type { CacheStore, StoredItem, StoreBody } from "./store";
import { concat } from "../body";

const CHUNK_BYTES = 1024 * 1024;

/**
 * What a row costs beyond its key, record and body: SQLite's page and index
 * overhead, estimated from above. The bound counts every byte, not bodies
 * alone, or long URLs with tiny bodies would fill the storage unseen.
 */
const ROW_OVERHEAD_BYTES = 256;

/** A row's size as the bound counts it, in SQL: body, key, record and overhead. */
const HELD_BYTES = `size + length(key) + length(record) + ${ROW_OVERHEAD_BYTES}`;

export class SqlStore implements CacheStore {
  private bytesHeld: number;

  constructor(
    private readonly sql: SqlStorage,
    private readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY, record TEXT NOT NULL, stored_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, size INTEGER NOT NULL)`);
    sql.exec("CREATE INDEX IF NOT EXISTS entries_stored_at ON entries (stored_at)");
    sql.exec("CREATE TABLE IF NOT EXISTS chunks (key TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (key, n))");
    // Where an entry's chunks are: a name of their own per put (rows from before it have none: their key).
    if (![...sql.exec<{ name: string }>("PRAGMA table_info(entries)")].some((c) => c.name === "body_key")) sql.exec("ALTER TABLE entries ADD COLUMN body_key TEXT");
    this.bytesHeld = [...sql.exec<{ total: number | null }>(`SELECT SUM(${HELD_BYTES}) AS total FROM entries`)][0]?.total ?? 0;
  }

  async get(key: string): Promise<StoredItem | undefined> {
    const row = [
      ...this.sql.exec<{ record: string; stored_at: number; expires_at: number; size: number; held: number; body_key: string | null }>(
        `SELECT record, stored_at, expires_at, size, ${HELD_BYTES} AS held, body_key FROM entries WHERE key = ?`,
        key,
      ),
    ][0];
    if (!row) return undefined;
    if (row.expires_at <= this.now()) {
      this.remove(key, row.held);
      return undefined;
    }
    const record = decodeRecord(row.record);
    if (!record) {
      this.remove(key, row.held);
      return undefined;
    }
    if (record.kind === "vary") return { record, body: null, storedAt: row.stored_at };
    // A body of one chunk is read at once; a larger one streams a chunk at a time (memory holds one).
    const bodyKey = row.body_key ?? key;
    if (row.size > CHUNK_BYTES) return { record, body: this.chunkStream(bodyKey, row.size), storedAt: row.stored_at };
    const chunk = [...this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE key = ? AND n = 0", bodyKey)][0];
    const body = chunk ? new Uint8Array(chunk.data) : new Uint8Array(0);
    if (body.byteLength !== row.size) {
      // Cut off on its way in: never served.
      this.remove(key, row.held);
      return undefined;
    }
    return { record, body, storedAt: row.stored_at };
  }

  /**
   * An entry's body, chunk by chunk as the reader pulls. Its chunks have a
   * name of their own (one per put): an entry replaced or removed meanwhile
   * ends the stream in an error, never in another entry's bytes.
   */
  private chunkStream(bodyKey: string, size: number): ReadableStream<Uint8Array> {
    let n = 0;
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        const chunk = [...this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE key = ? AND n = ?", bodyKey, n++)][0];
        if (!chunk) return controller.error(new Error("a stored body changed while it was read"));
        const bytes = new Uint8Array(chunk.data);
        sent += bytes.byteLength;
        controller.enqueue(bytes);
        if (sent >= size) controller.close();
      },
    });
  }

  async put(key: string, record: StoredRecord, body: StoreBody, retentionSeconds: number, storedAt: number): Promise<void> {
    const encoded = encodeRecord(record);
    const overhead = key.length + encoded.length + ROW_OVERHEAD_BYTES;
    // The body's chunks are written under a name of their own as they arrive (memory holds one
    // chunk), and become the entry's only once it is whole: a body that fails leaves the old entry.
    const bodyKey = `${key}\u0000${crypto.randomUUID()}`;
    let size = 0;
    try {
      size = await this.writeChunks(bodyKey, body, this.maxBytes - overhead);
      // A body that is not the size its record gives (one cut off on its way) is never the entry.
      if (record.kind === "entry" && record.meta.size !== UNKNOWN_SIZE && size !== record.meta.size) {
        throw new Error(`a body of ${size} bytes for an entry of ${record.meta.size}`);
      }
    } catch (err) {
      this.sql.exec("DELETE FROM chunks WHERE key = ?", bodyKey);
      throw err;
    }
    // The same count as HELD_BYTES (SQLite's length() counts characters; ours are ASCII once encoded).
    const held = size + overhead;
    const previous = [...this.sql.exec<{ held: number }>(`SELECT ${HELD_BYTES} AS held FROM entries WHERE key = ?`, key)][0];
    if (previous) this.remove(key, previous.held);
    this.makeRoom(held);
    this.sql.exec(
      "INSERT INTO entries (key, record, stored_at, expires_at, size, body_key) VALUES (?, ?, ?, ?, ?, ?)",
      key,
      encoded,
      storedAt,
      // Retention runs from the put, as the Cache API's max-age does.
      this.now() + Math.max(1, retentionSeconds) * 1000,
      size,
      bodyKey,
    );
    this.bytesHeld += held;
  }

  /** Writes a body as rows of CHUNK_BYTES under `key`; its size. More than `maxBytes`: an error. */
  private async writeChunks(key: string, body: StoreBody, maxBytes: number): Promise<number> {
    if (body === null) return 0;
    let n = 0;
    let size = 0;
    let buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    /** Writes whole rows of what is buffered (and the rest too, when `final`), keeping the remainder. */
    const flush = (final: boolean) => {
      if (bufferedBytes < CHUNK_BYTES && !(final && bufferedBytes > 0)) return;
      const all = concat(buffered, bufferedBytes);
      let at = 0;
      for (; all.byteLength - at >= CHUNK_BYTES || (final && at < all.byteLength); at += CHUNK_BYTES) {
        this.sql.exec("INSERT INTO chunks (key, n, data) VALUES (?, ?, ?)", key, n++, all.subarray(at, at + CHUNK_BYTES));
      }
      buffered = at < all.byteLength ? [all.subarray(at)] : [];
      bufferedBytes = all.byteLength - at;
    };
    const add = (bytes: Uint8Array) => {
      size += bytes.byteLength;
      if (size > maxBytes) throw new Error(`entry of more than ${maxBytes} body bytes exceeds the store's ${this.maxBytes}`);
      buffered.push(bytes);
      bufferedBytes += bytes.byteLength;
      flush(false);
    };
    if (body instanceof Uint8Array) add(body);
    else if (isByteStream(body)) return this.writeRows(key, body.getReader({ mode: "byob" }), maxBytes);
    else {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        add(value);
      }
    }
    flush(true);
    return size;
  }

  /**
   * A byte stream (the runtime's, as a streamed miss's store side is) read straight into one row's
   * buffer, used again for each row: SQLite copies a row's bytes as it is inserted. Its size.
   */
  private async writeRows(key: string, reader: ReadableStreamBYOBReader, maxBytes: number): Promise<number> {
    let buffer = new ArrayBuffer(CHUNK_BYTES);
    let filled = 0;
    let n = 0;
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(buffer, filled));
      if (value) buffer = value.buffer as ArrayBuffer;
      if (!done && value) {
        filled += value.byteLength;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new Error(`entry of more than ${maxBytes} body bytes exceeds the store's ${this.maxBytes}`);
        }
      }
      if (filled === CHUNK_BYTES || (done && filled > 0)) {
        this.sql.exec("INSERT INTO chunks (key, n, data) VALUES (?, ?, ?)", key, n++, new Uint8Array(buffer, 0, filled));
        filled = 0;
      }
      if (done) return size;
    }
  }

  async delete(key: string): Promise<boolean> {
    const row = [...this.sql.exec<{ held: number }>(`SELECT ${HELD_BYTES} AS held FROM entries WHERE key = ?`, key)][0];
    if (!row) return false;
    this.remove(key, row.held);
    return true;
  }

  /** Bytes the bound counts now. */
  get bytes(): number {
    return this.bytesHeld;
  }

  private remove(key: string, held: number): void {
    this.sql.exec("DELETE FROM chunks WHERE key = (SELECT COALESCE(body_key, key) FROM entries WHERE key = ?)", key);
    this.sql.exec("DELETE FROM entries WHERE key = ?", key);
    this.bytesHeld = Math.max(0, this.bytesHeld - held);
  }

  /** Expired entries first, then the oldest, until `incoming` more bytes fit. */
  private makeRoom(incoming: number): void {
    if (this.bytesHeld + incoming <= this.maxBytes) return;
    for (const row of [...this.sql.exec<{ key: string; held: number }>(`SELECT key, ${HELD_BYTES} AS held FROM entries WHERE expires_at <= ?`, this.now())])
      this.remove(row.key, row.held);
    while (this.bytesHeld + incoming > this.maxBytes) {
      const oldest = [...this.sql.exec<{ key: string; held: number }>(`SELECT key, ${HELD_BYTES} AS held FROM entries ORDER BY stored_at LIMIT 1`)][0];
      if (!oldest) break;
      this.remove(oldest.key, oldest.held);
    }
  }
}

/** Whether a stream can be read into buffers of our own (a byte stream: the runtime's, a socket's). */
function isByteStream(body: ReadableStream<Uint8Array>): boolean {
  try {
    body.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}
