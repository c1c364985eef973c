/**
 * The configuration the control plane holds (PUT /v1/config), past the 5 KB
 * Cloudflare allows a variable: stored as rows (one per origin, one per
 * site, one for the rest), so that a change rewrites what changed and no
 * value grows with the number of sites; versioned, so that every isolate's
 * sync says when to fetch it again. Without one, everything runs the
 * OUTPOST_CONFIG variable.
 */
import { parseConfig, type OutpostConfig } from "../common/config";
import type { ControlStorage } from "./storage";

/** What a row of the configuration holds: a section, and where it stands among its kind. */
interface ConfigRow {
  at: number;
  value: unknown;
}

type ConfigObject = Record<string, unknown> & { origins?: { id: string }[]; sites?: { id: string }[] };

/** The rows of a configuration (validated already), by id. */
export function configRows(config: ConfigObject): Map<string, ConfigRow> {
  const rows = new Map<string, ConfigRow>();
  // A copy: the rows are compared with the next configuration's, which may be this object changed.
  const { origins = [], sites = [], ...rest } = structuredClone(config);
  for (const [at, o] of origins.entries()) rows.set(`origin:${o.id}`, { at, value: o });
  for (const [at, s] of sites.entries()) rows.set(`site:${s.id}`, { at, value: s });
  rows.set("settings", { at: 0, value: rest });
  return rows;
}

/** The configuration its rows make, origins and sites in their order. */
export function configFromRows(rows: Map<string, ConfigRow>): ConfigObject {
  const of = (prefix: string) =>
    [...rows]
      .filter(([id]) => id.startsWith(prefix))
      .sort(([, a], [, b]) => a.at - b.at)
      .map(([, row]) => row.value as { id: string });
  return { ...(rows.get("settings")?.value as Record<string, unknown>), origins: of("origin:"), sites: of("site:") };
}

export class HeldConfig {
  private rows = new Map<string, ConfigRow>();
  version = 0;
  private text: string | undefined;
  private parsed: OutpostConfig | undefined;

  constructor(private readonly storage: ControlStorage) {}

  async load(): Promise<void> {
    this.rows = await this.storage.rows<ConfigRow>("config");
    this.version = (await this.storage.rows<number>("value")).get("configVersion") ?? 0;
    if (this.version > 0 && this.rows.size > 0) this.adopt(configFromRows(this.rows));
  }

  private adopt(config: ConfigObject): void {
    this.text = JSON.stringify(config);
    this.parsed = parseConfig(config, "the control plane's configuration");
  }

  /** The held configuration, if any. */
  get current(): OutpostConfig | undefined {
    return this.parsed;
  }

  /** What an isolate fetches: the version and its text (none: run the variable). */
  get answer(): { version: number; text: string | undefined } {
    return { version: this.version, text: this.text };
  }

  /** Replaces the held configuration (validated by the caller): writes the rows that changed, drops the rest. */
  async put(config: ConfigObject): Promise<number> {
    this.adopt(config);
    const next = configRows(config);
    for (const [id, row] of next) if (JSON.stringify(this.rows.get(id)) !== JSON.stringify(row)) await this.storage.putRow("config", id, row);
    for (const id of this.rows.keys()) if (!next.has(id)) await this.storage.deleteRow("config", id);
    this.rows = next;
    this.version++;
    await this.storage.putRow("value", "configVersion", this.version);
    return this.version;
  }
}
