/**
 * The miss path under the workerd binary itself: the same tiers as the
 * Miniflare network (production's front, two isolates of the POP, the
 * control plane's process with the shield shards as SQLite-backed Durable
 * Objects on disk, the zone's cache under every origin fetch), each process
 * a workerd of its own, from configs this script writes; no Miniflare entry
 * worker, no Miniflare cache. The Cache API stores are workerd-cache.ts, in
 * a third process (each put carries its bytes to another process, as to the
 * colo's cache; memory, not SQLite, behind it).
 * Beside it the same hops as bare pass-through workers, so that the floor of
 * this launcher shows next to the product's figure, and the bare shard's
 * SQLite inserting a body of each size: the storage's own share.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BARE_POP_SCRIPT, BARE_SHARD_SCRIPT, coldMissRounds, type MissTiming } from "./bench-miss-path";
import { type Binding, spawnWorkerd, waitForPort, worker, type WorkerdProcess } from "./bench-raw-workerd";
import { freePort } from "./free-port";
import { bundledScript } from "./network";

/**
 * The services every process has: the network out, its Cache API store (in the cache process, at
 * `cachePort`), the zone's cache before origins.
 */
const commonServices = (cachePort: number) => `(name = "internet", network = (allow = ["public", "private", "local"])),
    (name = "cache", external = (address = "127.0.0.1:${cachePort}", http = ())),
    (name = "zone-cache", worker = ${worker("zone-cache.js", [], `, globalOutbound = "internet", cacheApiOutbound = "cache"`)}),`;

/** Where a worker's subrequests and cache calls go: through the zone's cache, to this process's store (in the cache process). */
const OUTBOUND = `, globalOutbound = "zone-cache", cacheApiOutbound = "cache"`;

/**
 * The Cache API stores, in a process of their own: on Cloudflare a put leaves the worker for the
 * colo's cache, and a store in the worker's own process (workerd runs a process's isolates on one
 * thread) charged its parsing of every put to the POP: 419-712 ms for a stored 30 MB miss, against
 * 308-377 with the store apart. One store for each process, as the POP's colo and the shard's differ.
 */
function cacheConfig(ports: { popCache: number; controlCache: number }): string {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "pop-cache", worker = ${worker("cache.js", [])}),
    (name = "control-cache", worker = ${worker("cache.js", [])}),
  ],
  sockets = [
    (name = "pop-cache", address = "127.0.0.1:${ports.popCache}", http = (), service = "pop-cache"),
    (name = "control-cache", address = "127.0.0.1:${ports.controlCache}", http = (), service = "control-cache"),
  ],
);
`;
}

function controlConfig(ports: { control: number; bareShard: number; controlCache: number }, bindings: Binding[], originUrl: string): string {
  const classes = ["ControlPlane", "Shield", "Relay"];
  const objects = `, durableObjectNamespaces = [${classes.map((c) => `(className = "${c}", uniqueKey = "outpost-${c}", enableSql = true)`).join(", ")}], durableObjectStorage = (localDisk = "objects")`;
  const controlBindings: Binding[] = [
    ...bindings,
    ["OUTPOST_ROLE", { text: "control" }],
    ["CONTROL", { service: "outpost" }],
    ["CONTROL_PLANE", { durableObjectNamespace: "ControlPlane" }],
    ["SHIELD", { durableObjectNamespace: "Shield" }],
    ["RELAY", { durableObjectNamespace: "Relay" }],
  ];
  // On disk as Outpost's shards are, so that the bare shard's storing trips are their floor.
  const bareObjects = `, durableObjectNamespaces = [(className = "Shard", uniqueKey = "bare-Shard", enableSql = true)], durableObjectStorage = (localDisk = "objects")`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${commonServices(ports.controlCache)}
    (name = "objects", disk = (path = "objects", writable = true)),
    (name = "outpost", worker = ${worker("worker.js", controlBindings, OUTBOUND + objects)}),
    (name = "bare-shard", worker = ${worker(
      "bare-shard.js",
      [
        ["ORIGIN", { text: originUrl }],
        ["SHARD", { durableObjectNamespace: "Shard" }],
      ],
      OUTBOUND + bareObjects,
    )}),
  ],
  sockets = [
    (name = "control", address = "127.0.0.1:${ports.control}", http = (), service = "outpost"),
    (name = "bare-shard", address = "127.0.0.1:${ports.bareShard}", http = (), service = "bare-shard"),
  ],
);
`;
}

function popConfig(ports: { control: number; bareShard: number; pop: number; barePop: number; popCache: number }, bindings: Binding[], cf: Record<string, unknown>): string {
  const isolates = ["outpost", "outpost-2"];
  const popBindings: Binding[] = [...bindings, ["OUTPOST_ROLE", { text: "pop" }], ["POP_NAME", { text: String(cf.colo) }], ["CONTROL", { service: "control" }]];
  const front = (services: string[]) =>
    worker("front.js", [
      ["CF_BLOB", { json: JSON.stringify(cf) }],
      ["ISOLATES", { json: String(services.length) }],
      ...services.map((s, i): Binding => [`POP_${i}`, { service: s }]),
    ]);
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${commonServices(ports.popCache)}
    (name = "control", external = (address = "127.0.0.1:${ports.control}", http = ())),
    (name = "bare-shard", external = (address = "127.0.0.1:${ports.bareShard}", http = ())),
    ${isolates.map((name) => `(name = "${name}", worker = ${worker("worker.js", popBindings, OUTBOUND)}),`).join("\n    ")}
    (name = "front", worker = ${front(isolates)}),
    (name = "bare-pop", worker = ${worker("bare-pop.js", [["NEXT", { service: "bare-shard" }]], OUTBOUND)}),
    (name = "bare-front", worker = ${front(["bare-pop"])}),
  ],
  sockets = [
    (name = "front", address = "127.0.0.1:${ports.pop}", http = (), service = "front"),
    (name = "bare-front", address = "127.0.0.1:${ports.barePop}", http = (), service = "bare-front"),
  ],
);
`;
}

/**
 * Cold misses (bench-miss-path.ts's rounds) through a POP and its shield under raw workerd, against
 * the origin at `originUrl` and bare hops in the same processes. `bundle` is the POP's worker.js;
 * `outpostConfig` the Outpost configuration (shields on), `cf` the POP's request.cf.
 */
export async function measureRawWorkerdMisses(options: {
  bundle: string;
  originUrl: string;
  outpostConfig: unknown;
  cf: Record<string, unknown>;
  sizes?: number[];
  rounds?: number;
  /** Told each listener's port once all are up (bench-miss-hops.ts names the hops by them). */
  onListening?: (ports: Record<string, number>) => void;
}): Promise<MissTiming[]> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-raw-workerd-miss-"));
  const processes: WorkerdProcess[] = [];
  try {
    mkdirSync(join(dir, "objects"));
    copyFileSync(options.bundle, join(dir, "worker.js"));
    writeFileSync(join(dir, "cache.js"), bundledScript("workerd-cache.ts"));
    writeFileSync(join(dir, "zone-cache.js"), bundledScript("cloudflare-zone-cache.ts"));
    writeFileSync(join(dir, "front.js"), bundledScript("cloudflare-front.ts"));
    writeFileSync(join(dir, "bare-shard.js"), BARE_SHARD_SCRIPT);
    writeFileSync(join(dir, "bare-pop.js"), BARE_POP_SCRIPT);
    const ports = {
      control: await freePort(),
      bareShard: await freePort(),
      pop: await freePort(),
      barePop: await freePort(),
      popCache: await freePort(),
      controlCache: await freePort(),
    };
    const bindings: Binding[] = [
      ["OUTPOST_CONFIG", { text: JSON.stringify(options.outpostConfig) }],
      ["CONTROL_HOST", { text: "control.internal" }],
      ["CONTROL_TOKENS", { text: JSON.stringify([{ name: "bench-admin", token: `opk_${randomBytes(24).toString("hex")}`, scopes: ["admin"] }]) }],
      ["POP_TOKEN", { text: randomBytes(32).toString("hex") }],
    ];
    writeFileSync(join(dir, "control.capnp"), controlConfig(ports, bindings, options.originUrl));
    writeFileSync(join(dir, "pop.capnp"), popConfig(ports, bindings, options.cf));
    writeFileSync(join(dir, "cache.capnp"), cacheConfig(ports));
    // All three bind their ports before any request: a connection made meanwhile takes an ephemeral
    // port, and freePort's are ephemeral ones, so one could take a port a process has yet to bind.
    const [caches, control, pop] = ["cache.capnp", "control.capnp", "pop.capnp"].map((config) => spawnWorkerd(dir, config));
    processes.push(caches, control, pop);
    await waitForPort(`http://127.0.0.1:${ports.popCache}/`, caches);
    await waitForPort(`http://127.0.0.1:${ports.bareShard}/gen/1?ttl=0`, control);
    const popUrl = `http://127.0.0.1:${ports.pop}`;
    const bareHopsUrl = `http://127.0.0.1:${ports.barePop}`;
    await waitForPort(`${bareHopsUrl}/gen/1?ttl=0`, pop);
    await waitForPort(`${popUrl}/gen/1?ttl=0`, pop);
    options.onListening?.(ports);
    // The Workers' CPU: the POP's process and the control plane's (the shard), each with the front and
    // the zone's cache that bare hops pass too. Not the Cache API stores': on Cloudflare that work is
    // the colo cache's, not a Worker's.
    const cpuMs = () => pop.cpuMs() + control.cpuMs();
    return await coldMissRounds({ popUrl, originUrl: options.originUrl, bareHopsUrl, cpuMs, bareShardStores: true }, options.sizes, options.rounds);
  } finally {
    for (const workerd of processes) workerd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
