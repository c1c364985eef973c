/**
 * The shield's store: Durable Object SQLite storage. A row per entry
 * (record, times, size), its body in chunks of 1 MiB (a row must stay under
 * about 2 MB), a retention after which it reads as absent, and a bound on the
 * bytes held (keys and records too): the entries stored longest ago go first.
 */
import { decodeRecord, encodeRecord, type StoredRecord } from "./entry";
import type { CacheStore, StoredItem, StoreBody } from "./store";

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
    this.bytesHeld = [...sql.exec<{ total: number | null }>(`SELECT SUM(${HELD_BYTES}) AS total FROM entries`)][0]?.total ?? 0;
  }

  async get(key: string): Promise<StoredItem | undefined> {
    const row = [
      ...this.sql.exec<{ record: string; stored_at: number; expires_at: number; size: number; held: number }>(
        `SELECT record, stored_at, expires_at, size, ${HELD_BYTES} AS held FROM entries WHERE key = ?`,
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
    const body = new Uint8Array(row.size);
    let offset = 0;
    for (const chunk of this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE key = ? ORDER BY n", key)) {
      const bytes = new Uint8Array(chunk.data);
      if (offset + bytes.byteLength > body.byteLength) break;
      body.set(bytes, offset);
      offset += bytes.byteLength;
    }
    if (offset !== row.size) {
      // Cut off on its way in: never served.
      this.remove(key, row.held);
      return undefined;
    }
    return { record, body, storedAt: row.stored_at };
  }

  async put(key: string, record: StoredRecord, body: StoreBody, retentionSeconds: number, storedAt: number): Promise<void> {
    // The body is read whole before anything is written: a body that fails leaves the old entry as it was.
    const bytes = body === null ? new Uint8Array(0) : body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
    const encoded = encodeRecord(record);
    // The same count as HELD_BYTES (SQLite's length() counts characters; ours are ASCII once encoded).
    const held = bytes.byteLength + key.length + encoded.length + ROW_OVERHEAD_BYTES;
    if (held > this.maxBytes) throw new Error(`entry of ${held} bytes exceeds the store's ${this.maxBytes}`);
    const previous = [...this.sql.exec<{ held: number }>(`SELECT ${HELD_BYTES} AS held FROM entries WHERE key = ?`, key)][0];
    if (previous) this.remove(key, previous.held);
    this.makeRoom(held);
    this.sql.exec(
      "INSERT INTO entries (key, record, stored_at, expires_at, size) VALUES (?, ?, ?, ?, ?)",
      key,
      encoded,
      storedAt,
      // Retention runs from the put, as the Cache API's max-age does.
      this.now() + Math.max(1, retentionSeconds) * 1000,
      bytes.byteLength,
    );
    for (let n = 0, offset = 0; offset < bytes.byteLength; n++, offset += CHUNK_BYTES) {
      this.sql.exec("INSERT INTO chunks (key, n, data) VALUES (?, ?, ?)", key, n, bytes.subarray(offset, offset + CHUNK_BYTES));
    }
    this.bytesHeld += held;
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
    this.sql.exec("DELETE FROM entries WHERE key = ?", key);
    this.sql.exec("DELETE FROM chunks WHERE key = ?", key);
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
