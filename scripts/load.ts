/**
 * Bounded load from a separate process, so that the load generator does not
 * share a core's event loop with the server under test: wrk when it is
 * installed (Debian's package), else autocannon. autocannon reads bodies in
 * JavaScript at a cost that depends on their bytes: high-entropy bodies
 * (compressed, images) of 256 KiB ran at a tenth of the rate of
 * low-entropy ones of the same size against a constant bare worker, where
 * wrk read both alike. So large or compressed bodies want wrk.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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

/** The run with the median rate of several (interleaved rounds: this machine's noise is larger than the differences looked for). */
export function medianRun(runs: LoadResult[]): LoadResult {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor(sorted.length / 2)];
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; p99_9?: number; p999?: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** Which load generator runs: wrk when installed. */
export const LOAD_GENERATOR: "wrk" | "autocannon" = spawnSync("wrk", ["--version"]).error ? "autocannon" : "wrk";

/**
 * wrk's script: unique paths for [<id>], and one JSON line at the end
 * (latency in microseconds, as wrk keeps it).
 */
const WRK_SCRIPT = `
local counter = 0
local template = nil
local extra = {}
init = function(args)
  template = args[1]
  for i = 2, #args, 2 do extra[args[i]] = args[i + 1] end
end
request = function()
  counter = counter + 1
  local path = template
  if string.find(path, "[<id>]", 1, true) then
    path = string.gsub(path, "%[<id>%]", tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9)) .. "-" .. counter)
  end
  return wrk.format("GET", path, extra)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"durationUs":%d,"bytes":%d,"p50":%d,"p99":%d,"p999":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;

let wrkScript: string | undefined;

/** Runs the load generator to its end (killed 30 s past its duration) and returns what it printed. */
function runGenerator(command: string, args: string[], durationSeconds: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const guard = setTimeout(() => child.kill("SIGKILL"), (durationSeconds + 30) * 1000);
    child.on("exit", (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} exited ${code}: ${err}`));
    });
  });
}

async function runWrk(options: LoadOptions): Promise<LoadResult> {
  if (!wrkScript) {
    wrkScript = join(mkdtempSync(join(tmpdir(), "outpost-wrk-")), "load.lua");
    writeFileSync(wrkScript, WRK_SCRIPT);
  }
  const url = new URL(options.url.replace("[<id>]", "__ID__"));
  const path = `${url.pathname}${url.search}`.replace("__ID__", "[<id>]");
  const extra = Object.entries(options.headers ?? {}).flat();
  const args = ["-t1", `-c${options.connections}`, `-d${options.durationSeconds}s`, "--timeout", "10s", "-s", wrkScript, `${url.protocol}//${url.host}`, "--", path, ...extra];
  const output = await runGenerator("wrk", args, options.durationSeconds);
  const line = output
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  if (!line) throw new Error(`wrk printed no result: ${output}`);
  const r = JSON.parse(line) as { requests: number; durationUs: number; bytes: number; p50: number; p99: number; p999: number; errors: number; non2xx: number };
  const seconds = r.durationUs / 1e6;
  return {
    requests: r.requests,
    rps: Math.round(r.requests / seconds),
    p50: Math.round(r.p50 / 100) / 10,
    p99: Math.round(r.p99 / 100) / 10,
    p999: Math.round(r.p999 / 100) / 10,
    errors: r.errors,
    non2xx: r.non2xx,
    bytesPerSecond: Math.round(r.bytes / seconds),
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (LOAD_GENERATOR === "wrk") return runWrk(options);
  const args = ["--import", "tsx", join(ROOT, "scripts", "load-runner.ts"), JSON.stringify(options)];
  const output = await runGenerator(process.execPath, args, options.durationSeconds);
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
