/**
 * The local network: reference origins (Node processes) in several regions,
 * POPs (one Miniflare instance each, with its own `cf` geography and cache:
 * production's front, two isolates of the Worker, the zone's cache under
 * their subrequests) and the control plane (a Miniflare instance hosting the ControlPlane
 * Durable Object). Every POP runs the bundle `wrangler deploy` ships, and
 * reaches the control plane through its CONTROL service binding, as on
 * Cloudflare; only the binding's target differs (an external address here,
 * the worker itself there).
 *
 * Used by `npm start`, the end-to-end tests, the benchmark and the conformance run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import { Miniflare } from "miniflare";
import { parseConfig, type OutpostConfigInput } from "../common/config";
import { shieldAddress, shieldRegion } from "../common/shield/placement";
import { shieldRoutePath } from "../common/shield/protocol";
import type { NetworkConfig, OriginSpec, PopSpec } from "./network-config";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const COMPATIBILITY_DATE = "2026-04-26";

export interface TopologyPop {
  name: string;
  colo: string;
  /** Isolates behind the POP's name (the front takes them in turn). */
  isolates: number;
  url: string;
  port: number;
  city?: string;
  country: string;
  continent: string;
  latitude: number;
  longitude: number;
}

export interface TopologyOrigin {
  id: string;
  url: string;
  admin: string;
  region: string;
  latitude: number;
  longitude: number;
  /** Started by us (false for `--origin URL`). */
  managed: boolean;
}

export interface TopologyShield {
  /** As Cache-Status and /v1/pops name it. */
  name: string;
  region: string;
  /** The route POPs reach it by (POP token in x-outpost-pop-token). */
  url: string;
}

export interface Topology {
  control: { url: string; token: string };
  pops: TopologyPop[];
  origins: TopologyOrigin[];
  /** Shield shards (empty with the shield off): one per origin region and shard. */
  shields: TopologyShield[];
  startedAt: string;
}

/**
 * The POP at `colo`, else the topology's first (a network configured without it): the benches
 * measure at one named POP (FRA) so that their figures stay comparable from run to run.
 */
export function popAt(topology: Topology, colo: string): TopologyPop {
  return topology.pops.find((p) => p.colo === colo) ?? topology.pops[0];
}

/** The origin `id`, else the topology's first: as popAt, for the origin nearest that POP. */
export function originNamed(topology: Topology, id: string): TopologyOrigin {
  return topology.origins.find((o) => o.id === id) ?? topology.origins[0];
}

export interface NetworkOptions {
  config: NetworkConfig;
  /** Put one POP in front of this origin instead of starting the configured origins. */
  externalOrigin?: string;
  /**
   * How the external origin is probed: its own path and codes, not the demo origins' /health
   * (default: `/`, up on any answer below 500: a site need not have a health path).
   */
  externalMonitor?: { path?: string; expectedCodes?: number[] };
  /** Where the bundle is built; a fresh build unless `bundle` is given. */
  buildDir?: string;
  /** A bundle already built (tests build once and share it). */
  bundle?: string;
  /** Write .outpost/topology.json here. */
  topologyPath?: string;
  /** Extra OUTPOST_CONFIG fields (tests). */
  configOverrides?: Partial<OutpostConfigInput>;
  /** Snapshot refresh interval for POPs, ms. */
  snapshotRefreshMs?: number;
  /** More control API tokens beside the admin one (tests of scopes). */
  extraTokens?: { name: string; token: string; scopes: ("read" | "purge" | "admin")[] }[];
  /** METRICS_REPORT_MS for every POP (default 2000: a live dashboard). */
  metricsReportMs?: number;
  /** PURGE_CATCH_UP_AFTER for the control plane (default: the setting's, 2000). */
  purgeCatchUpAfter?: number;
  /**
   * Keep each POP's Cache API on disk, so that restartPop brings new isolates to the colo's old
   * entries, as a deploy does on Cloudflare (the Cache API outlives isolates). Off by default.
   */
  persistPopCaches?: boolean;
  log?: (line: string) => void;
}

export interface Network {
  topology: Topology;
  /** The OUTPOST_CONFIG every POP runs with. */
  outpostConfig: OutpostConfigInput;
  pops: Miniflare[];
  readonly control: Miniflare;
  /** Stops the control plane, waits `downMs`, and starts it again on its port with its state. */
  restartControl(downMs?: number): Promise<void>;
  /**
   * Starts POP `index` again, after `whileDown`: new isolates (their memory and purge rules gone),
   * the colo's Cache API kept when `persistPopCaches`. Its URL may change: topology.pops[index] is updated.
   */
  restartPop(index: number, whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Miniflare's request log is on by default and copies every response (to read and strip a field of
 * its own) even though its log, left at its default, prints nothing: a cost per response field
 * that Cloudflare does not have. Off for every instance the scripts start, benches included.
 */
export const MINIFLARE_LOG_REQUESTS = false;

/** Builds the worker bundle exactly as `wrangler deploy` would, offline. */
export async function buildBundle(outdir = join(ROOT, ".outpost", "build"), config = join(ROOT, "wrangler.toml")): Promise<string> {
  const wrangler = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir, "--config", config], {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolvePromise() : reject(new Error(`wrangler build failed (${code}):\n${output}`))));
  });
  return join(outdir, "worker.js");
}

/** A script of ours as a module workerd runs (the front, the zone's cache), bundled once. */
const bundled = new Map<string, string>();
export function bundledScript(file: string): string {
  let text = bundled.get(file);
  if (text === undefined) {
    // node:* stays an import: the workers that use it run with nodejs_compat.
    text = buildSync({ entryPoints: [join(ROOT, "scripts", file)], bundle: true, format: "esm", target: "es2022", write: false, external: ["node:*"] }).outputFiles[0].text;
    bundled.set(file, text);
  }
  return text;
}

/** The name the zone's cache has in a Miniflare instance (the outbound service of Outpost's workers). */
export const ZONE_CACHE_WORKER = "cloudflare-zone-cache";

/**
 * Miniflare worker options for the zone's cache under a Worker's subrequests
 * (cloudflare-zone-cache.ts): Outpost's workers name it as their outboundService.
 */
export function zoneCacheWorker() {
  return { name: ZONE_CACHE_WORKER, modules: true, script: bundledScript("cloudflare-zone-cache.ts"), compatibilityDate: COMPATIBILITY_DATE };
}

/** The name the front worker has in a Miniflare instance (for unsafeGetDirectURL). */
export const FRONT_WORKER = "cloudflare-front";

/**
 * Miniflare worker options for production's front before `services` (workers
 * of the same instance: one POP's isolates), listening on `port` (0: any free
 * one): clients reach them through it, in turn, not through Miniflare's entry worker.
 */
export function frontWorker(services: string[], cf: Record<string, unknown>, port: number) {
  return {
    name: FRONT_WORKER,
    modules: true,
    script: bundledScript("cloudflare-front.ts"),
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { CF_BLOB: cf, ISOLATES: services.length },
    serviceBindings: Object.fromEntries(services.map((service, i) => [`POP_${i}`, service])),
    unsafeDirectSockets: [{ host: "127.0.0.1", port }],
  };
}

interface StartedOrigin {
  spec: OriginSpec;
  child: ChildProcess;
  port: number;
  adminPort: number;
}

/** Starts one reference origin process and waits for its ready line. */
export async function spawnOrigin(spec: { id: string; region: string }, port: number, adminPort: number): Promise<{ child: ChildProcess; port: number; adminPort: number }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "origin", "main.ts"), "--id", spec.id, "--region", spec.region, "--port", String(port), "--admin-port", String(adminPort)],
    {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ port: number; adminPort: number }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`origin ${spec.id} did not start within 20 s`)), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`origin ${spec.id} exited (${code}) before it was ready; is port ${port} free?`));
    });
    lines.on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: boolean; port: number; adminPort: number };
        if (msg.ready) {
          clearTimeout(timer);
          resolvePromise(msg);
        }
      } catch {
        // not our line
      }
    });
  });
  child.removeAllListeners("exit");
  return { child, ...ready };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolvePromise) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolvePromise();
    });
    child.kill("SIGTERM");
  });
}

function popCf(pop: PopSpec): Record<string, unknown> {
  return {
    colo: pop.colo,
    country: pop.country,
    continent: pop.continent,
    city: pop.city,
    latitude: String(pop.latitude),
    longitude: String(pop.longitude),
    timezone: "UTC",
    asn: 64512,
    httpProtocol: "HTTP/1.1",
    tlsVersion: "TLSv1.3",
  };
}

/** The relays' worker, in an instance of its own. */
const RELAY_WORKER = "outpost-relay";

function portFor(base: number, offset: number): number {
  return base === 0 ? 0 : base + offset;
}

export async function startNetwork(options: NetworkOptions): Promise<Network> {
  const log = options.log ?? (() => undefined);
  const { config } = options;
  const base = config.basePort;
  const started: StartedOrigin[] = [];
  const miniflares: Miniflare[] = [];
  const cleanups: (() => void)[] = [];
  const stop = async () => {
    await Promise.allSettled(miniflares.map((mf) => mf.dispose()));
    await Promise.allSettled(started.map((o) => stopChild(o.child)));
    for (const cleanup of cleanups) cleanup();
  };

  try {
    const bundle = options.bundle ?? (await buildBundle(options.buildDir));
    log(`bundle: ${bundle}`);

    // Origins first: POPs need their addresses.
    let origins: TopologyOrigin[];
    let popSpecs = config.pops;
    if (options.externalOrigin) {
      const url = new URL(options.externalOrigin);
      const pop = config.pops[0];
      popSpecs = [pop];
      origins = [{ id: "origin", url: url.origin, admin: "", region: "external", latitude: pop.latitude, longitude: pop.longitude, managed: false }];
    } else {
      const firstOriginPort = config.pops.length + 20;
      const results = await Promise.all(
        config.origins.map(async (spec, i) => {
          const o = await spawnOrigin(spec, portFor(base, firstOriginPort + 2 * i), portFor(base, firstOriginPort + 2 * i + 1));
          started.push({ spec, ...o });
          return { spec, ...o };
        }),
      );
      origins = results.map((o) => ({
        id: o.spec.id,
        url: `http://127.0.0.1:${o.port}`,
        admin: `http://127.0.0.1:${o.adminPort}`,
        region: o.spec.region,
        latitude: o.spec.latitude,
        longitude: o.spec.longitude,
        managed: true,
      }));
    }

    const specs = new Map(config.origins.map((o) => [o.id, o]));
    const externalMonitor = options.externalOrigin
      ? { path: options.externalMonitor?.path ?? "/", ...(options.externalMonitor?.expectedCodes ? { expectedCodes: options.externalMonitor.expectedCodes } : {}) }
      : undefined;
    const outpostConfig: OutpostConfigInput = {
      origins: origins.map((o) => {
        const spec = specs.get(o.id);
        return {
          id: o.id,
          url: o.url,
          region: o.region,
          latitude: o.latitude,
          longitude: o.longitude,
          weight: spec?.weight ?? 100,
          ...(spec?.maxRequests ? { maxRequests: spec.maxRequests } : {}),
          ...(externalMonitor && !o.managed ? { monitor: externalMonitor } : {}),
        };
      }),
      sites: [{ id: "demo", hosts: config.hosts, origins: origins.map((o) => o.id) }],
      ...(config.cache ? { cache: config.cache } : {}),
      ...(config.originFetch ? { originFetch: config.originFetch } : {}),
      ...(config.monitor ? { monitor: config.monitor } : {}),
      ...(config.outlierDetection ? { outlierDetection: config.outlierDetection } : {}),
      ...(config.loadBalancing ? { loadBalancing: config.loadBalancing } : {}),
      ...(config.shield ? { shield: config.shield } : {}),
      debug: config.debug,
      ...options.configOverrides,
    };
    const adminToken = `opk_${randomBytes(24).toString("hex")}`;
    const popToken = randomBytes(32).toString("hex");
    const bindings = {
      OUTPOST_CONFIG: JSON.stringify(outpostConfig),
      CONTROL_HOST: "control.internal",
      CONTROL_TOKENS: JSON.stringify([{ name: "local-admin", token: adminToken, scopes: ["admin"] }, ...(options.extraTokens ?? [])]),
      POP_TOKEN: popToken,
      SNAPSHOT_REFRESH_MS: String(options.snapshotRefreshMs ?? 100),
      METRICS_REPORT_MS: String(options.metricsReportMs ?? 2000),
      ...(options.purgeCatchUpAfter ? { PURGE_CATCH_UP_AFTER: String(options.purgeCatchUpAfter) } : {}),
    };
    const worker = {
      name: "outpost",
      modules: true,
      scriptPath: bundle,
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: ["nodejs_compat"],
      // SQLite-backed, as wrangler.toml declares it (new_sqlite_classes): the control plane keeps rows.
      durableObjects: {
        CONTROL_PLANE: { className: "ControlPlane", useSQLite: true },
        SHIELD: { className: "Shield", useSQLite: true },
        RELAY: { className: "Relay", useSQLite: true },
      },
    };
    // The registry by which the control plane's instance and the relays' reach each other's Durable Objects.
    const registry = mkdtempSync(join(tmpdir(), "outpost-registry-"));
    cleanups.push(() => rmSync(registry, { recursive: true, force: true }));

    // The control plane's Durable Object keeps its state on disk for the network's life, so that a
    // restarted control plane (restartControl) comes back with every purge it had accepted.
    const controlState = mkdtempSync(join(tmpdir(), "outpost-control-"));
    cleanups.push(() => rmSync(controlState, { recursive: true, force: true }));
    const controlOptions = (port: number) => ({
      host: "127.0.0.1",
      port,
      unsafeDevRegistryPath: registry,
      logRequests: MINIFLARE_LOG_REQUESTS,
      cf: popCf(config.pops[0]),
      durableObjectsPersist: controlState,
      // Shield shards live here too; they reach the control plane (this worker) as POPs do, by CONTROL.
      // Its origin fetches (the shields' fills, the probes) pass the zone's cache, as on Cloudflare.
      workers: [
        {
          ...worker,
          bindings: { ...bindings, OUTPOST_ROLE: "control" },
          // The relays run in their own instance (below), reached through Miniflare's dev registry.
          durableObjects: { ...worker.durableObjects, RELAY: { className: "Relay", scriptName: RELAY_WORKER } },
          serviceBindings: { CONTROL: "outpost" },
          outboundService: ZONE_CACHE_WORKER,
        },
        zoneCacheWorker(),
      ],
    });
    let control = new Miniflare(controlOptions(portFor(base, 0)));
    miniflares.push(control);
    const controlUrl = new URL(await control.ready);
    // The regional relays (control/relay-object.ts): one process apart from the control plane's, as they are
    // objects apart on Cloudflare; each reaches the global object by its CONTROL_PLANE binding, across processes.
    const relays = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      logRequests: MINIFLARE_LOG_REQUESTS,
      unsafeDevRegistryPath: registry,
      workers: [
        {
          ...worker,
          name: RELAY_WORKER,
          bindings: { ...bindings, OUTPOST_ROLE: "control" },
          durableObjects: { RELAY: { className: "Relay", useSQLite: true }, CONTROL_PLANE: { className: "ControlPlane", scriptName: "outpost" } },
        },
      ],
    });
    miniflares.push(relays);
    await relays.ready;

    const pops: TopologyPop[] = [];
    const popCaches = popSpecs.map(() => {
      if (!options.persistPopCaches) return undefined;
      const dir = mkdtempSync(join(tmpdir(), "outpost-pop-cache-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    });
    const startPop = async (spec: PopSpec, i: number) => {
      // Clients reach the POP through production's front (cloudflare-front.ts) on the POP's port,
      // not through Miniflare's entry worker, which re-encodes what a POP sends encoded. Behind
      // it, the POP's isolates: workers of one instance, sharing its Cache API as a colo's do.
      const isolates = Array.from({ length: config.isolatesPerPop }, (_, n) => (n === 0 ? "outpost" : `outpost-${n + 1}`));
      const mf = new Miniflare({
        host: "127.0.0.1",
        port: 0,
        logRequests: MINIFLARE_LOG_REQUESTS,
        cf: popCf(spec),
        ...(popCaches[i] ? { cachePersist: popCaches[i] } : {}),
        workers: [
          ...isolates.map((name) => ({
            ...worker,
            name,
            bindings: { ...bindings, OUTPOST_ROLE: "pop", POP_NAME: spec.colo },
            serviceBindings: { CONTROL: { external: { address: `127.0.0.1:${controlUrl.port}`, http: {} } } },
            outboundService: ZONE_CACHE_WORKER,
          })),
          frontWorker(isolates, popCf(spec), portFor(base, 1 + i)),
          zoneCacheWorker(),
        ],
      });
      miniflares.push(mf);
      await mf.ready;
      const url = await mf.unsafeGetDirectURL(FRONT_WORKER);
      return { mf, spec, url };
    };
    const popInstances = await Promise.all(popSpecs.map(startPop));
    for (const { spec, url } of popInstances) {
      pops.push({
        name: `Outpost-${spec.colo}`,
        colo: spec.colo,
        isolates: config.isolatesPerPop,
        url: `http://127.0.0.1:${url.port}`,
        port: Number(url.port),
        city: spec.city,
        country: spec.country,
        continent: spec.continent,
        latitude: spec.latitude,
        longitude: spec.longitude,
      });
    }

    const controlBase = `http://127.0.0.1:${controlUrl.port}`;
    const parsed = parseConfig(outpostConfig, "OUTPOST_CONFIG");
    const shieldConfig = parsed.shield;
    const shieldRegions = [...new Set(parsed.origins.map(shieldRegion))];
    const shields: TopologyShield[] = !shieldConfig.enabled
      ? []
      : shieldRegions.flatMap((region) =>
          Array.from({ length: shieldConfig.shardsPerRegion }, (_, shard) => ({
            name: shieldAddress(region, shard).name,
            region,
            url: `${controlBase}${shieldRoutePath(region, shard)}`,
          })),
        );
    const topology: Topology = {
      control: { url: controlBase, token: adminToken },
      pops,
      origins,
      shields,
      startedAt: new Date().toISOString(),
    };
    if (options.topologyPath) {
      mkdirSync(dirname(options.topologyPath), { recursive: true });
      writeFileSync(options.topologyPath, `${JSON.stringify(topology, null, 2)}\n`, { mode: 0o600 });
    }
    /** Disposes one instance and forgets it, so that stop() does not dispose it again. */
    const retire = async (mf: Miniflare) => {
      await mf.dispose();
      miniflares.splice(miniflares.indexOf(mf), 1);
    };
    const restartControl = async (downMs = 0) => {
      await retire(control);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      control = new Miniflare(controlOptions(Number(controlUrl.port)));
      miniflares.push(control);
      await control.ready;
    };
    const popMiniflares = popInstances.map((p) => p.mf);
    const restartPop = async (index: number, whileDown?: () => Promise<void>) => {
      await retire(popMiniflares[index]);
      await whileDown?.();
      const started = await startPop(popSpecs[index], index);
      popMiniflares[index] = started.mf;
      topology.pops[index].url = `http://127.0.0.1:${started.url.port}`;
      topology.pops[index].port = Number(started.url.port);
    };
    return {
      topology,
      outpostConfig,
      pops: popMiniflares,
      get control() {
        return control;
      },
      restartControl,
      restartPop,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
