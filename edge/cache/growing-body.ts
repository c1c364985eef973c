/**
 * A body being written to a store row by row, read back by any number of
 * readers as its rows land: Varnish's streaming from a busy object. Every
 * client of one fill (the one that asked first, and those collapsed onto it)
 * reads it, each at its own pace.
 *
 * The writer keeps at most RECENT_ROWS ahead of the fastest reader, and those
 * rows stay in memory too: the fastest reader takes each from memory, and a
 * row's buffer, once out of that window and passed on by every reader that
 * took it, is the writer's to fill again (spareBuffer). So one fill costs
 * what streaming to one client and storing in step did: reading back each
 * row just written, and a fresh buffer for each, cost a shard 25 % more CPU
 * at 30 MB (npm run bench). A reader further behind reads from the store and
 * paces nobody: one slow client no longer slows the fill the others read.
 * With no reader left, or none taking a row for as long as the writer will
 * wait (the store's call), the writer goes on at its source's pace.
 *
 * The rows themselves are the store's: `readRow` fetches one. Pure: no
 * platform, no clock.
 */

/** How many rows the writer may be ahead of the fastest reader; kept in memory. */
export const RECENT_ROWS = 4;

/**
 * The bytes a store's growing bodies keep in memory (recent rows, spare buffers), within one
 * bound for them all: past it a row is read back from the store instead, so a shard filling many
 * large objects at once holds no more than this of them.
 */
export class RowMemory {
  private held = 0;
  constructor(readonly limit: number) {}
  take(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }
  give(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }
  get bytes(): number {
    return this.held;
  }
}

/** A reader's place: how many rows it has taken. */
export interface ReaderPosition {
  taken: number;
}

/** A row in memory, and how many readers have it in hand (not yet passed on). */
interface RecentRow {
  bytes: Uint8Array;
  holders: number;
  /** Whether the store's memory bound counts it (a row that must stay in memory may go past it). */
  counted: boolean;
  /** Out of the window: its buffer is spare once no reader holds it. */
  evicted: boolean;
}

/** A row taken by a reader: `release` once its bytes have been passed on (copied out). */
export interface TakenRow {
  bytes: Uint8Array;
  release(): void;
}

export class GrowingBody {
  /** Rows written so far (rows 0 .. rows-1 may be read). */
  private rows = 0;
  private state: { kind: "writing" } | { kind: "whole" } | { kind: "failed"; error: Error } = { kind: "writing" };
  /** Readers waiting for the next row. */
  private readonly waiting = new Set<() => void>();
  private readonly recent = new Map<number, RecentRow>();
  /** Buffers of rows no reader holds any more, for the writer to fill again. */
  private readonly spare: ArrayBuffer[] = [];
  private readonly readers = new Set<ReaderPosition>();
  /** The writer, waiting for a reader to take a row (room). */
  private writerWaiting: (() => void) | undefined;
  private markStarted!: () => void;
  private failStart!: (error: Error) => void;
  /**
   * Resolves once the first row is written (or the body ended with none: an empty one); rejects
   * when the write failed before that. A reader's client is answered only after it, so a body that
   * fails before its first byte is retried, as any failure before the first byte is.
   */
  readonly started: Promise<void>;

  constructor(
    private readonly readRow: (n: number) => Uint8Array | undefined,
    private readonly memory = new RowMemory(Number.POSITIVE_INFINITY),
  ) {
    this.started = new Promise<void>((resolve, reject) => {
      this.markStarted = resolve;
      this.failStart = reject;
    });
    // Nobody may be awaiting it (a fill with no reader left): never an unhandled rejection.
    this.started.catch(() => undefined);
  }

  /** The writer wrote one more row, `bytes`, which it leaves as they are until their buffer is spare again. */
  rowWritten(bytes: Uint8Array, options: { inMemoryOnly?: boolean } = {}): void {
    this.evict(this.rows - RECENT_ROWS);
    const counted = this.memory.take(bytes.byteLength);
    if (counted || options.inMemoryOnly) this.recent.set(this.rows, { bytes, holders: 0, evicted: false, counted });
    this.rows++;
    this.markStarted();
    this.wake();
  }

  /** The writer ended: `error` when the body failed (readers error too), else it is whole. */
  ended(error?: Error): void {
    if (this.state.kind !== "writing") return;
    this.state = error ? { kind: "failed", error } : { kind: "whole" };
    // Readers still behind read on from the store, which holds every row; nothing is written again.
    for (const n of [...this.recent.keys()]) this.evict(n);
    for (const buffer of this.spare.splice(0)) this.memory.give(buffer.byteLength);
    if (error) this.failStart(error);
    else this.markStarted();
    this.wake();
  }

  /**
   * Undefined when the writer may write its next row now: no reader, or the fastest within
   * RECENT_ROWS of it. Otherwise a promise that resolves once a reader takes a row or goes.
   */
  room(): Promise<void> | undefined {
    if (this.hasRoom()) return undefined;
    return new Promise<void>((resolve) => (this.writerWaiting = resolve));
  }

  /** A buffer of `bytes` no reader holds any more, for the writer's next row; undefined when none. */
  spareBuffer(bytes: number): ArrayBuffer | undefined {
    const at = this.spare.findIndex((buffer) => buffer.byteLength === bytes);
    if (at < 0) return undefined;
    this.memory.give(bytes);
    return this.spare.splice(at, 1)[0];
  }

  /** Readers waiting for a row now (what tests look at). */
  get readersWaiting(): number {
    return this.waiting.size;
  }

  /** A new reader, at the body's start; `leave` it when it stops reading, whatever the reason. */
  join(): ReaderPosition {
    const position: ReaderPosition = { taken: 0 };
    this.readers.add(position);
    return position;
  }

  leave(position: ReaderPosition): void {
    this.readers.delete(position);
    this.readerMoved();
  }

  /**
   * The reader's next row, once it is written; "end" when the body is whole and it has every
   * row. Throws when the write failed, or when a written row is gone from the store (the entry
   * replaced or removed meanwhile): never another entry's bytes.
   */
  async take(position: ReaderPosition): Promise<TakenRow | "end"> {
    while (position.taken >= this.rows) {
      if (this.state.kind === "failed") throw this.state.error;
      if (this.state.kind === "whole") return "end";
      await new Promise<void>((resolve) => this.waiting.add(resolve));
    }
    const n = position.taken;
    const inMemory = this.recent.get(n);
    const bytes = inMemory?.bytes ?? this.readRow(n);
    if (!bytes) throw new Error("a stored body changed while it was read");
    position.taken++;
    this.readerMoved();
    if (!inMemory) return { bytes, release: () => undefined };
    inMemory.holders++;
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        inMemory.holders--;
        if (inMemory.evicted && inMemory.holders === 0) this.spareOf(inMemory);
      },
    };
  }

  /**
   * The body as a stream of its own, for hosts without the runtime's streams (tests, Node). Rows
   * it takes from memory are never released: who reads them keeps them, so their buffers are
   * never filled again under that reader.
   */
  reader(): ReadableStream<Uint8Array> {
    const position = this.join();
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          try {
            const next = await this.take(position);
            if (next === "end") {
              this.leave(position);
              return controller.close();
            }
            controller.enqueue(next.bytes);
          } catch (err) {
            this.leave(position);
            controller.error(err);
          }
        },
        cancel: () => this.leave(position),
      },
      // One row in hand at a time: a reader pulls the next only when it has passed the last on.
      { highWaterMark: 0 },
    );
  }

  private evict(n: number): void {
    const row = this.recent.get(n);
    if (!row) return;
    this.recent.delete(n);
    if (row.counted) this.memory.give(row.bytes.byteLength);
    row.evicted = true;
    if (row.holders === 0) this.spareOf(row);
  }

  /**
   * Keeps a row's buffer for the writer, when it is a whole buffer of the writer's: at most two,
   * the largest (rows grow to a size and stay there, so a smaller one would not be asked for again).
   */
  private spareOf(row: RecentRow): void {
    const { buffer, byteOffset, byteLength } = row.bytes;
    if (this.state.kind !== "writing" || byteOffset !== 0 || !(buffer instanceof ArrayBuffer) || buffer.byteLength !== byteLength) return;
    const larger = this.spare.filter((kept) => kept.byteLength >= byteLength);
    if (larger.length >= 2 || !this.memory.take(byteLength)) return;
    for (const smaller of this.spare.filter((kept) => kept.byteLength < byteLength)) this.memory.give(smaller.byteLength);
    this.spare.splice(0, this.spare.length, ...larger, buffer);
  }

  private hasRoom(): boolean {
    if (this.state.kind !== "writing" || this.readers.size === 0) return true;
    let fastest = 0;
    for (const reader of this.readers) fastest = Math.max(fastest, reader.taken);
    return this.rows - fastest < RECENT_ROWS;
  }

  private readerMoved(): void {
    const resume = this.writerWaiting;
    if (!resume || !this.hasRoom()) return;
    this.writerWaiting = undefined;
    resume();
  }

  private wake(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const resume of waiting) resume();
  }
}
