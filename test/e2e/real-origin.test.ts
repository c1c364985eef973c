/**
 * In front of a server we did not write, as `npm start -- --origin URL` puts
 * it: Python's http.server, which has no /health and sends Last-Modified but
 * no Cache-Control. Outpost must judge it alive, serve its files, revalidate
 * them, and fetch what changed; never answer a stale copy while it answers.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { freePort } from "../../scripts/free-port";
import { startTestNetwork, waitFor } from "./helpers";

const python = spawnSync("python3", ["--version"]).status === 0;
let server: ChildProcess | undefined;
let network: Network | undefined;
let dir: string;

beforeAll(async () => {
  if (!python) return;
  dir = mkdtempSync(join(tmpdir(), "outpost-site-"));
  writeFileSync(join(dir, "page.txt"), "version 1\n");
  const port = await freePort();
  server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dir], { stdio: "ignore" });
  await waitFor("python's http.server", async () => ((await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.ok ? true : undefined), 10_000);
  network = await startTestNetwork({ externalOrigin: `http://127.0.0.1:${port}` });
});
afterAll(async () => {
  await network?.stop();
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!python)("in front of python3 -m http.server (no /health, no Cache-Control)", () => {
  const get = async (path: string) => {
    const r = await fetch(`${network!.topology.pops[0].url}${path}`, { headers: { "accept-encoding": "identity" } });
    return { status: r.status, body: await r.text(), cacheStatus: r.headers.get("cache-status") ?? "" };
  };

  it("is judged up by the probes, and serves, revalidates and refetches a changed file", async () => {
    // Probes every 2 s with thresholds of 2: wait for enough of them to have called it down, were it so.
    const health = await waitFor(
      "three probes of the origin",
      async () => {
        const r = await fetch(`${network!.topology.control.url}/v1/health`, { headers: { authorization: `Bearer ${network!.topology.control.token}` } });
        const view = (await r.json()) as { origins: Record<string, { healthy: boolean; active: { consecutiveSuccesses?: number; consecutiveFailures?: number } | null }> };
        const active = view.origins.origin.active;
        return active && (active.consecutiveSuccesses ?? 0) + (active.consecutiveFailures ?? 0) >= 3 ? view.origins.origin : undefined;
      },
      20_000,
    );
    expect(health.healthy).toBe(true);
    // Written just now: its heuristic freshness (a tenth of its age, RFC 9111 §4.2.2) is nil.
    writeFileSync(join(dir, "page.txt"), "version 1\n");
    const first = await get("/page.txt");
    expect(first.status).toBe(200);
    expect(first.body).toBe("version 1\n");
    // A new version, with a Last-Modified a second later than the first.
    writeFileSync(join(dir, "page.txt"), "version 2\n");
    const later = new Date(Date.now() + 2000);
    utimesSync(join(dir, "page.txt"), later, later);
    const second = await get("/page.txt");
    expect(second.status).toBe(200);
    expect(second.body).toBe("version 2\n");
    expect(second.cacheStatus).not.toMatch(/stale-if-error/);
    // Unchanged since: revalidated (a 304 from the origin), not answered stale.
    const third = await get("/page.txt");
    expect(third.body).toBe("version 2\n");
    expect(third.cacheStatus).not.toMatch(/stale-if-error/);
  });
});

describe.skipIf(!python)("a probe's verdict alone (--health-path the site does not have)", () => {
  let wrongProbe: Network | undefined;
  beforeAll(async () => {
    const port = Number(new URL(network!.topology.origins[0].url).port);
    wrongProbe = await startTestNetwork({ externalOrigin: `http://127.0.0.1:${port}`, externalMonitor: { path: "/no-such-health-path", expectedCodes: [200] } });
  });
  afterAll(async () => {
    await wrongProbe?.stop();
  });

  it("never keeps the POP from asking the origin: a changed file is fetched, not answered stale", async () => {
    const control = wrongProbe!.topology.control;
    await waitFor(
      "the probes to call the origin down",
      async () => {
        const view = (await (await fetch(`${control.url}/v1/health`, { headers: { authorization: `Bearer ${control.token}` } })).json()) as {
          origins: Record<string, { healthy: boolean }>;
        };
        return view.origins.origin.healthy === false ? true : undefined;
      },
      20_000,
    );
    const get = async () => {
      const r = await fetch(`${wrongProbe!.topology.pops[0].url}/other.txt`, { headers: { "accept-encoding": "identity" } });
      return { body: await r.text(), cacheStatus: r.headers.get("cache-status") ?? "" };
    };
    writeFileSync(join(dir, "other.txt"), "first\n");
    expect((await get()).body).toBe("first\n");
    writeFileSync(join(dir, "other.txt"), "second\n");
    const later = new Date(Date.now() + 2000);
    utimesSync(join(dir, "other.txt"), later, later);
    const changed = await get();
    expect(changed.body).toBe("second\n");
    expect(changed.cacheStatus).not.toMatch(/stale-if-error/);
  });
});
