/**
 * The hit path under the workerd binary itself, with no Miniflare around it
 * (no entry worker rebuilding each request, no emulated front): the POP's
 * bundle as `wrangler deploy` builds it and the bench's bare worker, each on
 * its own socket of one workerd process, from a config this script writes.
 * The ratio hit / bare is then the product's own cost. Raw workerd has no
 * Cache API store (puts keep nothing), so hits come from the in-isolate tier,
 * as most hits do; no control plane (the POP serves with no purge rules).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startOrigin } from "../origin/server";
import { freePort } from "./free-port";
import { medianRun, runLoad, type LoadResult } from "./load";
import { COMPATIBILITY_DATE, ROOT } from "./network";

export interface RawWorkerdHits {
  sizes: { bytes: number; hitRps: number; bareRps: number; hitOverBare: number }[];
}

/** A capnp text literal (workerd's config language escapes as C does). */
const capnpText = (value: string) => JSON.stringify(value);

/** A binding in a workerd config: a name and what it holds. */
export type Binding = [name: string, value: { text: string } | { json: string } | { service: string } | { durableObjectNamespace: string }];

function bindingList(bindings: Binding[]): string {
  const one = ([name, value]: Binding) => {
    const [kind, target] = Object.entries(value)[0];
    return `(name = ${capnpText(name)}, ${kind} = ${capnpText(target)})`;
  };
  return `[${bindings.map(one).join(", ")}]`;
}

/**
 * A worker of one ESM module (a file in the config's folder) with its bindings; `extra` adds
 * fields (outbound services, Durable Objects). The compatibility date is the network's, as deployed.
 */
export function worker(module: string, bindings: Binding[], extra = ""): string {
  return `(modules = [(name = ${capnpText(module)}, esModule = embed ${capnpText(module)})], compatibilityDate = "${COMPATIBILITY_DATE}", compatibilityFlags = ["nodejs_compat"], bindings = ${bindingList(bindings)}${extra})`;
}

function workerdConfig(ports: { outpost: number; bare: number }, bindings: Record<string, string>): string {
  const texts = Object.entries(bindings).map(([name, text]): Binding => [name, { text }]);
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "outpost", worker = ${worker("worker.js", texts, `, globalOutbound = "loopback"`)}),
    (name = "bare", worker = ${worker("bare.js", [])}),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "outpost", address = "127.0.0.1:${ports.outpost}", http = (), service = "outpost"),
    (name = "bare", address = "127.0.0.1:${ports.bare}", http = (), service = "bare"),
  ],
);
`;
}

export async function waitForPort(url: string, workerd: WorkerdProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (workerd.child.exitCode !== null) throw new Error(`workerd exited (${workerd.child.exitCode}):\n${workerd.output()}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`workerd did not listen on ${url}:\n${workerd.output()}`);
}

/** A workerd process, what it has printed (for an error), and a way to end it. */
export interface WorkerdProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => void;
  /** CPU the workerd binary has used so far, every thread, ms (Linux's /proc; NaN elsewhere). */
  cpuMs: () => number;
}

/** CPU used by `pid`'s threads so far, ms: the first field of each one's schedstat is its time on a CPU, ns. */
function processCpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    return ns / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** The binary the launcher `pid` started (its child); undefined when there is none to read. */
function launchedBinary(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    return children.length > 0 ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** The workerd binary serving `config` (a file in `dir`). */
export function spawnWorkerd(dir: string, config: string): WorkerdProcess {
  let output = "";
  // One process per config, as each Miniflare instance is one workerd. The command is a Node
  // launcher that starts the binary: its own process group, so that stop ends both.
  const child = spawn(join(ROOT, "node_modules", ".bin", "workerd"), ["serve", join(dir, config), "--experimental"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const kill = () => {
    try {
      // SIGKILL: on SIGTERM workerd drains first, and a control plane holding syncs sat there for minutes.
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  // A bench that ends by an error or process.exit leaves no workerd behind either.
  process.once("exit", kill);
  const stop = () => {
    process.off("exit", kill);
    kill();
  };
  let binary: number | undefined;
  const cpuMs = () => {
    binary ??= launchedBinary(child.pid);
    return binary === undefined ? Number.NaN : processCpuMs(binary);
  };
  return { child, output: () => output, stop, cpuMs };
}

/**
 * Hits at 1 KiB and 16 KiB against the bare worker, under raw workerd: interleaved rounds, the
 * median of each. `bundle` is the POP's worker.js; `bareScript` the bench's bare worker.
 */
export async function measureRawWorkerdHits(options: {
  bundle: string;
  bareScript: string;
  outpostConfig: (originUrl: string) => unknown;
  connections: number;
  durationSeconds: number;
  rounds: number;
  sizes?: number[];
}): Promise<RawWorkerdHits> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-raw-workerd-"));
  const origin = await startOrigin({ id: "eu-central", region: "eu-central", port: 0, adminPort: 0 });
  let workerd: WorkerdProcess | undefined;
  try {
    copyFileSync(options.bundle, join(dir, "worker.js"));
    writeFileSync(join(dir, "bare.js"), options.bareScript);
    const ports = { outpost: await freePort(), bare: await freePort() };
    const config = JSON.stringify(options.outpostConfig(`http://127.0.0.1:${origin.port}`));
    writeFileSync(join(dir, "config.capnp"), workerdConfig(ports, { OUTPOST_CONFIG: config, OUTPOST_ROLE: "pop", POP_NAME: "FRA" }));
    workerd = spawnWorkerd(dir, "config.capnp");
    const outpostUrl = `http://127.0.0.1:${ports.outpost}`;
    const bareUrl = `http://127.0.0.1:${ports.bare}`;
    await waitForPort(`${bareUrl}/1`, workerd);
    await waitForPort(`${outpostUrl}/gen/1?ttl=86400`, workerd);
    const once = (url: string) => runLoad({ url, connections: options.connections, durationSeconds: options.durationSeconds });
    const sizes: RawWorkerdHits["sizes"] = [];
    for (const bytes of options.sizes ?? [1024, 16384]) {
      const path = `${outpostUrl}/gen/${bytes}?ttl=86400`;
      // Warm: the first request fills, the next few settle the JIT.
      for (let i = 0; i < 20; i++) await (await fetch(path)).arrayBuffer();
      await once(`${bareUrl}/${bytes}`);
      const hits: LoadResult[] = [];
      const bares: LoadResult[] = [];
      for (let round = 0; round < options.rounds; round++) {
        bares.push(await once(`${bareUrl}/${bytes}`));
        hits.push(await once(path));
      }
      const hitRps = medianRun(hits).rps;
      const bareRps = medianRun(bares).rps;
      sizes.push({ bytes, hitRps, bareRps, hitOverBare: Math.round((hitRps / bareRps) * 100) / 100 });
    }
    return { sizes };
  } finally {
    workerd?.stop();
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
