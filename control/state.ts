/**
 * The control plane's truth, apart from the Durable Object that hosts it so
 * Node tests can drive it: run-time origin overrides, health, and what each
 * POP last synced. Every change bumps the version POPs compare against.
 */
import type { OriginHealthView, OriginOverride, Snapshot } from "./snapshot";

export interface PopSync {
  name: string;
  lastSyncAt: number;
  versionApplied: number;
}

export interface ControlData {
  version: number;
  origins: Record<string, OriginOverride>;
  health: Record<string, OriginHealthView>;
  pops: Record<string, PopSync>;
}

/** The storage the state needs: the Durable Object's, or a Map in tests. */
export interface ControlStorage {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
}

const DATA_KEY = "control-data";

export class ControlState {
  private data: ControlData | undefined;

  constructor(
    private readonly storage: ControlStorage,
    private readonly now: () => number = Date.now,
  ) {}

  private async load(): Promise<ControlData> {
    this.data ??= (await this.storage.get<ControlData>(DATA_KEY)) ?? { version: 1, origins: {}, health: {}, pops: {} };
    return this.data;
  }

  private async save(data: ControlData): Promise<void> {
    await this.storage.put(DATA_KEY, data);
  }

  async snapshot(popName: string | undefined, have: number): Promise<Snapshot> {
    const data = await this.load();
    if (popName) {
      // Sync records live in memory between saves: a write per poll would be wasteful.
      data.pops[popName] = { name: popName, lastSyncAt: this.now(), versionApplied: have };
    }
    return { version: data.version, generatedAt: this.now(), origins: data.origins, health: data.health };
  }

  async pops(): Promise<PopSync[]> {
    return Object.values((await this.load()).pops).sort((a, b) => a.name.localeCompare(b.name));
  }

  async overrides(): Promise<Record<string, OriginOverride>> {
    return (await this.load()).origins;
  }

  async health(): Promise<Record<string, OriginHealthView>> {
    return (await this.load()).health;
  }

  async patchOrigin(id: string, patch: OriginOverride): Promise<{ version: number; override: OriginOverride }> {
    const data = await this.load();
    const override = { ...data.origins[id], ...patch };
    data.origins[id] = override;
    data.version++;
    await this.save(data);
    return { version: data.version, override };
  }
}
