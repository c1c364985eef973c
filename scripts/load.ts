/**
 * Bounded load from a separate process (autocannon's CLI), so that the load
 * generator does not share a core's event loop with the server under test.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./network";

export interface LoadOptions {
  url: string;
  connections: number;
  durationSeconds: number;
  headers?: Record<string, string>;
  /** Replace [<id>] in the URL with a unique id per request (misses). */
  idReplacement?: boolean;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  errors: number;
  non2xx: number;
  bytesPerSecond: number;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; p99_9?: number; p999?: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const args = ["--import", "tsx", join(ROOT, "scripts", "load-runner.ts"), JSON.stringify(options)];
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const guard = setTimeout(() => child.kill("SIGKILL"), (options.durationSeconds + 30) * 1000);
    child.on("exit", (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(out);
      else reject(new Error(`autocannon exited ${code}: ${err}`));
    });
  });
  const json = JSON.parse(output.trim().split("\n").pop()!) as AutocannonJson;
  return {
    requests: json.requests.total,
    rps: Math.round(json.requests.average),
    p50: json.latency.p50,
    p99: json.latency.p99,
    p999: json.latency.p99_9 ?? json.latency.p999 ?? NaN,
    errors: json.errors + json.timeouts,
    non2xx: json.non2xx,
    bytesPerSecond: Math.round(json.throughput.average),
  };
}
