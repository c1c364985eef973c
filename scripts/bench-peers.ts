/**
 * `npm run bench -- --peers`: nginx's proxy_cache and Varnish in front of the
 * same reference origin as the FRA POP, under the same load generator, so
 * that users see what Outpost trades. Each peer runs as its own process on
 * 127.0.0.1 with a configuration written here, and stops with the bench.
 * Skipped, saying why, when nginx or varnishd is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runLoad, type LoadResult } from "./load";
import { freePort } from "./free-port";

export interface PeerResult {
  peer: "nginx" | "varnish";
  version: string;
  /** Requests per second of cache hits, by body size. */
  hits: Record<string, number>;
  /** Outpost's hits over the peer's, by body size. */
  outpostRatio: Record<string, number>;
}

interface RunningPeer {
  url: string;
  stop: () => Promise<void>;
}

function installed(command: string, versionArgs: string[]): string | undefined {
  const run = spawnSync(command, versionArgs, { encoding: "utf8" });
  if (run.error) return undefined;
  return `${run.stdout}${run.stderr}`
    .split("\n")
    .find((l) => l.trim())
    ?.trim();
}

async function waitUntilServing(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before serving`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not serve within 15 s`);
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

async function startNginx(originPort: number): Promise<RunningPeer> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-peer-nginx-"));
  const port = await freePort();
  // One worker, as one Outpost POP is one isolate; the cache honours the origin's Cache-Control.
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
${process.getuid?.() === 0 ? "user root;" : ""}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=outpost:16m max_size=1g inactive=1d use_temp_path=off;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache outpost;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`,
  );
  const child = spawn("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilServing(`${url}/health`, child, "nginx");
  return { url, stop: stopper(child, dir) };
}

async function startVarnish(originPort: number): Promise<RunningPeer> {
  const dir = mkdtempSync(join(tmpdir(), "outpost-peer-varnish-"));
  const port = await freePort();
  writeFileSync(join(dir, "default.vcl"), `vcl 4.1;\nbackend default { .host = "127.0.0.1"; .port = "${originPort}"; }\n`);
  const args = ["-F", "-f", join(dir, "default.vcl"), "-a", `127.0.0.1:${port}`, "-T", "none", "-n", join(dir, "work"), "-s", "malloc,256m"];
  // As root, varnishd would hand its work to an unprivileged user that cannot read this temporary directory.
  if (process.getuid?.() === 0) args.push("-j", "none");
  const child = spawn("varnishd", args, { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilServing(`${url}/health`, child, "varnishd");
  return { url, stop: stopper(child, dir) };
}

const SIZES = [1024, 16 * 1024, 256 * 1024];

async function hits(base: string, connections: number, durationSeconds: number, rounds: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const size of SIZES) {
    const url = `${base}/gen/${size}?ttl=86400`;
    for (let i = 0; i < 2; i++) await (await fetch(url)).arrayBuffer();
    const runs: LoadResult[] = [];
    for (let round = 0; round < rounds; round++) runs.push(await runLoad({ url, connections, durationSeconds }));
    out[`${size / 1024}k`] = [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)].rps;
  }
  return out;
}

/** Hits at Outpost's POP (given) against nginx and Varnish before the same origin. */
export async function measurePeers(
  outpostUrl: string,
  originUrl: string,
  connections: number,
  durationSeconds: number,
  rounds: number,
): Promise<{ outpost: Record<string, number>; peers: PeerResult[]; skipped: string[] }> {
  const outpost = await hits(outpostUrl, connections, durationSeconds, rounds);
  const originPort = Number(new URL(originUrl).port);
  const peers: PeerResult[] = [];
  const skipped: string[] = [];
  const candidates = [
    { peer: "nginx" as const, version: installed("nginx", ["-v"]), start: startNginx },
    { peer: "varnish" as const, version: installed("varnishd", ["-V"]), start: startVarnish },
  ];
  for (const { peer, version, start } of candidates) {
    if (!version) {
      skipped.push(`${peer}: not installed (apt-get install ${peer === "nginx" ? "nginx" : "varnish"})`);
      continue;
    }
    const running = await start(originPort);
    try {
      const peerHits = await hits(running.url, connections, durationSeconds, rounds);
      const outpostRatio = Object.fromEntries(Object.keys(peerHits).map((k) => [k, Math.round((outpost[k] / peerHits[k]) * 100) / 100]));
      peers.push({ peer, version, hits: peerHits, outpostRatio });
      for (const k of Object.keys(peerHits)) console.log(`peers hit-${k}: Outpost ${outpost[k]} rps, ${peer} ${peerHits[k]} rps → Outpost at ${outpostRatio[k]} of ${peer}`);
    } finally {
      await running.stop();
    }
  }
  for (const s of skipped) console.log(`peers: ${s}`);
  return { outpost, peers, skipped };
}
