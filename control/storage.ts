/**
 * The control plane's durable state as rows, so that a probe or a sync writes
 * only what changed and no stored value grows with history (one value of
 * ~2 MB is where Durable Object storage refuses, SQLITE_TOOBIG):
 *
 *   rows(tbl, id, value)   one row per origin override, active health, passive
 *                          report, isolate, POP's retired figures, health
 *                          transition, Cloudflare purge result, section of the
 *                          held configuration (an origin, a site, the rest),
 *                          hour of the purge log folded for catch-up (control/catch-up.ts),
 *                          and the small named values (version, purge sequence, epoch)
 *   purges(seq, id, at, rule)  one row per purge rule, read by sequence (or by time)
 *
 * Two implementations of one interface: SQLite in the Durable Object, a Map in Node tests.
 */
import type { PurgeRule } from "../common/snapshot";

export type RowTable = "value" | "override" | "active" | "passive" | "pop" | "retired" | "transition" | "cloudflare" | "config" | "fold";

export interface ControlStorage {
  rows<T>(table: RowTable): Promise<Map<string, T>>;
  putRow<T>(table: RowTable, id: string, value: T): Promise<void>;
  deleteRow(table: RowTable, id: string): Promise<void>;
  /** Stores a purge rule; it is durable when this resolves. */
  appendPurge(rule: PurgeRule): Promise<void>;
  /** Rules with seq above `after`, oldest first, at most `limit`. */
  purgesAfter(after: number, limit: number): Promise<PurgeRule[]>;
  /** Rules accepted at or after `from` and before `to` (ms), oldest first. */
  purgesBetween(from: number, to: number): Promise<PurgeRule[]>;
  purgeById(id: string): Promise<PurgeRule | undefined>;
  /** Drops rules accepted before `before`; returns the ids dropped. */
  prunePurges(before: number): Promise<string[]>;
  purgeCount(): Promise<number>;
}

/** The Durable Object's SQLite storage (ctx.storage.sql). */
export class SqlControlStorage implements ControlStorage {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS rows (tbl TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tbl, id))");
    sql.exec("CREATE TABLE IF NOT EXISTS purges (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, at INTEGER NOT NULL, rule TEXT NOT NULL)");
    sql.exec("CREATE INDEX IF NOT EXISTS purges_at ON purges (at)");
  }

  async rows<T>(table: RowTable): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for (const row of this.sql.exec<{ id: string; value: string }>("SELECT id, value FROM rows WHERE tbl = ?", table)) out.set(row.id, JSON.parse(row.value) as T);
    return out;
  }
  async putRow<T>(table: RowTable, id: string, value: T): Promise<void> {
    this.sql.exec("INSERT OR REPLACE INTO rows (tbl, id, value) VALUES (?, ?, ?)", table, id, JSON.stringify(value));
  }
  async deleteRow(table: RowTable, id: string): Promise<void> {
    this.sql.exec("DELETE FROM rows WHERE tbl = ? AND id = ?", table, id);
  }
  async appendPurge(rule: PurgeRule): Promise<void> {
    this.sql.exec("INSERT INTO purges (seq, id, at, rule) VALUES (?, ?, ?, ?)", rule.seq, rule.id, rule.at, JSON.stringify(rule));
  }
  async purgesAfter(after: number, limit: number): Promise<PurgeRule[]> {
    return [...this.sql.exec<{ rule: string }>("SELECT rule FROM purges WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)].map((r) => JSON.parse(r.rule) as PurgeRule);
  }
  async purgesBetween(from: number, to: number): Promise<PurgeRule[]> {
    return [...this.sql.exec<{ rule: string }>("SELECT rule FROM purges WHERE at >= ? AND at < ? ORDER BY seq", from, to)].map((r) => JSON.parse(r.rule) as PurgeRule);
  }
  async purgeById(id: string): Promise<PurgeRule | undefined> {
    const row = [...this.sql.exec<{ rule: string }>("SELECT rule FROM purges WHERE id = ?", id)][0];
    return row ? (JSON.parse(row.rule) as PurgeRule) : undefined;
  }
  async prunePurges(before: number): Promise<string[]> {
    const ids = [...this.sql.exec<{ id: string }>("SELECT id FROM purges WHERE at < ?", before)].map((r) => r.id);
    if (ids.length > 0) this.sql.exec("DELETE FROM purges WHERE at < ?", before);
    return ids;
  }
  async purgeCount(): Promise<number> {
    return [...this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM purges")][0]?.n ?? 0;
  }
}

/** The same contract in memory, for Node tests. */
export class MemoryControlStorage implements ControlStorage {
  readonly tables = new Map<RowTable, Map<string, string>>();
  readonly purges: PurgeRule[] = [];
  /** Writes so far, so tests can see that a probe writes rows, not history. */
  writes: { table: RowTable | "purges"; id: string }[] = [];

  private table(name: RowTable): Map<string, string> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }
  async rows<T>(table: RowTable): Promise<Map<string, T>> {
    return new Map([...this.table(table)].map(([id, v]) => [id, JSON.parse(v) as T]));
  }
  async putRow<T>(table: RowTable, id: string, value: T): Promise<void> {
    this.writes.push({ table, id });
    this.table(table).set(id, JSON.stringify(value));
  }
  async deleteRow(table: RowTable, id: string): Promise<void> {
    this.table(table).delete(id);
  }
  async appendPurge(rule: PurgeRule): Promise<void> {
    this.writes.push({ table: "purges", id: rule.id });
    this.purges.push(structuredClone(rule));
  }
  async purgesAfter(after: number, limit: number): Promise<PurgeRule[]> {
    return this.purges.filter((r) => r.seq > after).slice(0, limit);
  }
  async purgesBetween(from: number, to: number): Promise<PurgeRule[]> {
    return this.purges.filter((r) => r.at >= from && r.at < to);
  }
  async purgeById(id: string): Promise<PurgeRule | undefined> {
    return this.purges.find((r) => r.id === id);
  }
  async prunePurges(before: number): Promise<string[]> {
    const dropped = this.purges.filter((r) => r.at < before).map((r) => r.id);
    if (dropped.length === 0) return dropped;
    const kept = this.purges.filter((r) => r.at >= before);
    this.purges.length = 0;
    for (const rule of kept) this.purges.push(rule);
    return dropped;
  }
  async purgeCount(): Promise<number> {
    return this.purges.length;
  }
}
