/**
 * The shield's store: Durable Object SQLite storage. A row per entry
 * (record, times, size), its body in chunks of up to 1 MiB (a row must stay under
 * about 2 MB), written as it arrives and read as the reader pulls, so memory
 * holds a chunk, not a body, a retention after which it reads as absent, and a bound on the
 * bytes held (keys and records too): the entries stored longest ago go first.
 * A body of known size being written can be read as its rows land (follow).
 */
import { decodeRecord, encodeRecord, type StoredRecord, UNKNOWN_SIZE } from "./entry";
import { GrowingBody, RowMemory } from "./growing-body";
import { runtimeReader } from "./growing-body-stream";
import type { CacheStore, FollowedBody, StoredItem, StoreBody } from "./store";
import { concat } from "../body";
import { waitAtMost } from "../wait";

const CHUNK_BYTES = 1024 * 1024;

/**
 * A streamed body's rows start small and double up to CHUNK_BYTES, and a row is written once
 * ROW_AFTER_MS have passed since the last even when short: its readers (follow) get the first
 * bytes as soon as a streamed miss answers (STREAM_AFTER_BYTES), and a trickling origin's bytes as
 * they come rather than once a whole MiB has. Past the first few rows, rows are 1 MiB.
 */
const FIRST_ROW_BYTES = 16 * 1024;
const ROW_AFTER_MS = 50;

/**
 * The longest a followed body's writer waits for its fastest reader to take a row (GrowingBody)
 * before it writes on at its source's pace, its readers reading back from storage: a client that
 * reads slowly, or not at all, never holds the origin's connection for long, or the fill.
 */
const FASTEST_READER_WAIT_MS = 5_000;

/**
 * What a shard's followed bodies keep in memory at most, all together (RowMemory): 8 fills of 4 MiB
 * at once. A Durable Object has 128 MB; past this, rows are read back from storage.
 */
const FOLLOWED_MEMORY_BYTES = 32 * 1024 * 1024;

/** The bytes row `n` of a stream holds when full. */
function rowBytes(n: number): number {
  return Math.min(CHUNK_BYTES, FIRST_ROW_BYTES * 2 ** n);
}

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
  /** Bodies being written, by entry key, that readers may follow (the latest put per key). */
  private readonly growing = new Map<string, { body: GrowingBody; record: StoredRecord; storedAt: number }>();
  private readonly rowMemory = new RowMemory(FOLLOWED_MEMORY_BYTES);

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
    // A streamed body's first rows are short (rowsOf): a small one may span a few.
    const rows = [...this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE key = ? ORDER BY n", bodyKey)].map((r) => new Uint8Array(r.data));
    const bytes = rows.reduce((sum, r) => sum + r.byteLength, 0);
    const body = rows.length === 1 ? (rows[0] as Uint8Array) : concat(rows, bytes);
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
        const bytes = this.row(bodyKey, n++);
        if (!bytes) return controller.error(new Error("a stored body changed while it was read"));
        sent += bytes.byteLength;
        controller.enqueue(bytes);
        if (sent >= size) controller.close();
      },
    });
  }

  /**
   * The body being put at `key` now, read as its rows are written; undefined when none is. Only a
   * streamed body of known size is followed (its size is the entry's from the start). Registered
   * by put before it first awaits, so a caller that has just called put can follow at once.
   */
  follow(key: string): FollowedBody | undefined {
    const growing = this.growing.get(key);
    if (!growing) return undefined;
    const size = growing.record.kind === "entry" ? growing.record.meta.size : 0;
    return { record: growing.record, storedAt: growing.storedAt, body: runtimeReader(growing.body, size) ?? growing.body.reader(), started: growing.body.started };
  }

  async put(key: string, record: StoredRecord, body: StoreBody, retentionSeconds: number, storedAt: number): Promise<void> {
    const encoded = encodeRecord(record);
    const overhead = key.length + encoded.length + ROW_OVERHEAD_BYTES;
    // The body's chunks are written under a name of their own as they arrive (memory holds one
    // chunk), and become the entry's only once it is whole: a body that fails leaves the old entry.
    const bodyKey = `${key}\u0000${crypto.randomUUID()}`;
    const followable = body instanceof ReadableStream && record.kind === "entry" && record.meta.size !== UNKNOWN_SIZE;
    const growing = followable ? { body: this.growingBody(bodyKey), record, storedAt } : undefined;
    if (growing) this.growing.set(key, growing);
    try {
      const size = await this.writeChunks(bodyKey, body, this.maxBytes - overhead, growing?.body);
      // A body that is not the size its record gives (one cut off on its way) is never the entry.
      if (record.kind === "entry" && record.meta.size !== UNKNOWN_SIZE && size !== record.meta.size) {
        throw new Error(`a body of ${size} bytes for an entry of ${record.meta.size}`);
      }
      this.insertEntry(key, encoded, storedAt, retentionSeconds, size, overhead, bodyKey);
      // Its readers read on from the entry's rows, which stay until it is replaced or removed.
      growing?.body.ended();
    } catch (err) {
      this.sql.exec("DELETE FROM chunks WHERE key = ?", bodyKey);
      growing?.body.ended(err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      if (growing && this.growing.get(key) === growing) this.growing.delete(key);
    }
  }

  /** Makes a written body the entry at `key`, in place of any before it, within the bound. */
  private insertEntry(key: string, encoded: string, storedAt: number, retentionSeconds: number, size: number, overhead: number, bodyKey: string): void {
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

  /** Row `n` of the body written under `bodyKey`; undefined when there is none (any more). */
  private row(bodyKey: string, n: number): Uint8Array | undefined {
    const found = [...this.sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE key = ? AND n = ?", bodyKey, n)][0];
    return found && new Uint8Array(found.data);
  }

  /** A body written under `bodyKey`, its rows read back one at a time. */
  private growingBody(bodyKey: string): GrowingBody {
    return new GrowingBody((n) => this.row(bodyKey, n), this.rowMemory);
  }

  /** What a body past the bytes it may have (`maxBytes`, the bound less its entry's own) fails with. */
  private tooLarge(maxBytes: number): Error {
    return new Error(`entry of more than ${maxBytes} body bytes exceeds the store's ${this.maxBytes}`);
  }

  /**
   * Writes a body as rows under `key` (a whole body in rows of CHUNK_BYTES, a stream's as rowsOf
   * says), telling `growing`'s readers of each; its size. More than `maxBytes`: an error.
   */
  private async writeChunks(key: string, body: StoreBody, maxBytes: number, growing?: GrowingBody): Promise<number> {
    if (body === null) return 0;
    const rows = this.rowsOf(key, growing);
    if (body instanceof Uint8Array) {
      if (body.byteLength > maxBytes) throw this.tooLarge(maxBytes);
      for (let at = 0; at < body.byteLength; at += CHUNK_BYTES) rows.write(body.subarray(at, at + CHUNK_BYTES));
      return body.byteLength;
    }
    if (isByteStream(body)) return this.writeRows(body.getReader({ mode: "byob" }), maxBytes, rows);
    const reader = body.getReader();
    let size = 0;
    let buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (value && !done) {
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw this.tooLarge(maxBytes);
        }
        buffered.push(value);
        bufferedBytes += value.byteLength;
      }
      if ((done && bufferedBytes > 0) || rows.due(bufferedBytes)) {
        const all = concat(buffered, bufferedBytes);
        for (let at = 0; at < all.byteLength; at += CHUNK_BYTES) rows.write(all.subarray(at, at + CHUNK_BYTES));
        buffered = [];
        bufferedBytes = 0;
        await rows.room();
      }
      if (done) {
        rows.finish();
        return size;
      }
    }
  }

  /**
   * A byte stream (the runtime's, as a streamed miss's store side is) read straight into each row's
   * buffer: a spare one once the body's readers have passed it on (GrowingBody), else a fresh one.
   * Its size.
   */
  private async writeRows(reader: ReadableStreamBYOBReader, maxBytes: number, rows: RowWriter): Promise<number> {
    let buffer = rows.nextBuffer();
    let filled = 0;
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(buffer, filled));
      if (value) buffer = value.buffer as ArrayBuffer;
      if (!done && value) {
        filled += value.byteLength;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw this.tooLarge(maxBytes);
        }
      }
      if ((done && filled > 0) || filled === buffer.byteLength || rows.due(filled)) {
        rows.write(new Uint8Array(buffer, 0, filled));
        filled = 0;
        if (!done) buffer = rows.nextBuffer();
        await rows.room();
      }
      if (done) {
        rows.finish();
        return size;
      }
    }
  }

  /** The rows of one body, numbered from 0 as they are written; each told to the body's readers. */
  private rowsOf(key: string, growing: GrowingBody | undefined): RowWriter {
    let n = 0;
    let lastRowAt = this.now();
    /** Whether the writer still keeps within reach of its fastest reader (GrowingBody). */
    let paced = growing !== undefined;
    /**
     * A followed body's first row goes to its readers at once and is written with the second (or
     * at the end): a Durable Object's output waits for its writes, so written first, it held the
     * answer's first bytes back. Under raw workerd, 30 MB: +11.7..+12.9 ms to the first byte
     * over direct, against +11.9..+17.3 written at once (three runs each, the same hour).
     */
    let firstRow: Uint8Array | undefined;
    const insert = (at: number, bytes: Uint8Array) => this.sql.exec("INSERT INTO chunks (key, n, data) VALUES (?, ?, ?)", key, at, bytes);
    const insertFirst = () => {
      if (firstRow) insert(0, firstRow);
      firstRow = undefined;
    };
    return {
      room: async () => {
        const wait = paced ? growing?.room() : undefined;
        if (wait)
          paced = await waitAtMost(
            wait.then(() => true),
            FASTEST_READER_WAIT_MS,
            false,
          );
      },
      due: (filled) => filled >= rowBytes(n) || (filled > 0 && this.now() - lastRowAt >= ROW_AFTER_MS),
      // A fresh 1 MiB buffer a row faulted in 30 MB of new pages for a 30 MB body, the larger part of a shard's CPU for it.
      nextBuffer: () => growing?.spareBuffer(rowBytes(n)) ?? new ArrayBuffer(rowBytes(n)),
      write: (bytes) => {
        const at = n++;
        lastRowAt = this.now();
        if (at === 0 && growing) {
          growing.rowWritten(bytes, { inMemoryOnly: true });
          firstRow = bytes;
          return;
        }
        insertFirst();
        insert(at, bytes);
        growing?.rowWritten(bytes);
      },
      finish: insertFirst,
    };
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

interface RowWriter {
  /** Whether a row of `filled` bytes is due now: full for its place, or waited for long enough. */
  due(filled: number): boolean;
  /** A buffer for the next row, of what it holds when full: a spare one of the body's readers' when there is one. */
  nextBuffer(): ArrayBuffer;
  /** Settles when the next row may be written: within reach of the fastest reader, or once it stopped moving. */
  room(): Promise<void>;
  write(bytes: Uint8Array): void;
  /** Writes what is still held back; called once the body has come whole. */
  finish(): void;
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
