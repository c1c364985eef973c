/**
 * The control plane's row per isolate, indexed by POP name so that a sync
 * sums its colo's isolates without reading every row, and bounded: an
 * isolate silent for ISOLATE_GONE_MS, or the oldest past MAX_ISOLATE_ROWS,
 * is due to retire (its figures move to the colo's retired total).
 */
import { ISOLATE_GONE_MS } from "../common/wire";
import type { PopSync } from "./views";

/** Rows kept at most: Cloudflare runs thousands of isolates of a busy Worker, never this many at once. */
export const MAX_ISOLATE_ROWS = 20_000;

export class IsolateRows {
  private readonly rows: Map<string, PopSync>;
  private readonly byColo = new Map<string, Set<string>>();

  constructor(rows: Map<string, PopSync> = new Map()) {
    this.rows = new Map();
    for (const [key, row] of rows) this.set(key, row);
  }

  get size(): number {
    return this.rows.size;
  }

  get(key: string): PopSync | undefined {
    return this.rows.get(key);
  }

  set(key: string, row: PopSync): void {
    this.rows.set(key, row);
    let members = this.byColo.get(row.name);
    if (!members) this.byColo.set(row.name, (members = new Set()));
    members.add(key);
  }

  delete(key: string): void {
    const row = this.rows.get(key);
    if (!row) return;
    this.rows.delete(key);
    const members = this.byColo.get(row.name);
    members?.delete(key);
    if (members?.size === 0) this.byColo.delete(row.name);
  }

  entries(): IterableIterator<[string, PopSync]> {
    return this.rows.entries();
  }

  values(): IterableIterator<PopSync> {
    return this.rows.values();
  }

  /** Every POP's name, in order. */
  colos(): string[] {
    return [...this.byColo.keys()].sort((a, b) => a.localeCompare(b));
  }

  /** The isolates of one POP. */
  membersOf(colo: string): PopSync[] {
    return [...(this.byColo.get(colo) ?? [])].flatMap((key) => this.rows.get(key) ?? []);
  }

  /** Keys of isolates to retire now: the silent ones, and the oldest past the bound. */
  due(now: number): string[] {
    const gone = [...this.rows].filter(([, row]) => row.lastSyncAt < now - ISOLATE_GONE_MS).map(([key]) => key);
    const excess = this.rows.size - gone.length - MAX_ISOLATE_ROWS;
    if (excess <= 0) return gone;
    const goneSet = new Set(gone);
    const oldest = [...this.rows]
      .filter(([key]) => !goneSet.has(key))
      .sort(([, a], [, b]) => a.lastSyncAt - b.lastSyncAt)
      .slice(0, excess)
      .map(([key]) => key);
    return [...gone, ...oldest];
  }
}
