/**
 * The public HTTP cache test suite's current version (vendored in
 * test/vendor/cache-tests) against a POP of the default network, shield on:
 * no required test may fail beyond the platform's and policy's documented
 * limits. It runs `npm run conformance` as a user would.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "outpost-conformance-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ConformanceReport {
  counts: Record<string, { pass: number; fail: number; setup: number; retry: number; harness: number }>;
  failures: { id: string; kind: string; result: string }[];
}

function runConformance(json: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "conformance.ts"), "--json", json], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 280_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("the public HTTP cache test suite, current version", () => {
  // One retry: a run of 365 tests on a loaded 2-core machine has seen a lone timing failure; a real
  // regression fails both runs.
  it("fails no required test beyond the documented platform and policy limits", { timeout: 300_000, retry: 1 }, async () => {
    const json = join(dir, "conformance.json");
    const { code, output } = await runConformance(json);
    const unexpected = /required tests failing beyond the documented limits: (.*)/.exec(output)?.[1];
    expect(unexpected, output.slice(-3000)).toBeUndefined();
    expect(code, output.slice(-3000)).toBe(0);
    const report = JSON.parse(readFileSync(json, "utf8")) as ConformanceReport;
    // The suite really ran: its required tests are counted, nearly all passing. A retry (↻, allowed by
    // the gate above) is neither pass nor fail, as on cache-tests.fyi: on a loaded machine a pooled
    // connection the suite's server closed as it was reused makes one, and the GET rightly goes again.
    const { pass, retry } = report.counts.required;
    const notPassing = report.failures.map((f) => `${f.id} (${f.result})`).join("; ");
    expect(pass + retry, `required: ${pass} passed, ${retry} retried; not passing: ${notPassing}`).toBeGreaterThanOrEqual(155);
  });
});
