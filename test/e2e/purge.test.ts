/** Purge through the control API and the command line, seen at every POP. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, type Network } from "../../scripts/network";
import { startTestNetwork, unique, waitFor } from "./helpers";
import { relayFor } from "../../control/relay-placement";

let network: Network;
beforeAll(async () => {
  // A POP more than 5 rules behind fetches the folded catch-up (the last test restarts one).
  network = await startTestNetwork({ snapshotRefreshMs: 100, purgeCatchUpAfter: 5, persistPopCaches: true });
});
afterAll(async () => {
  await network?.stop();
});

const auth = () => ({ authorization: `Bearer ${network.topology.control.token}`, "content-type": "application/json" });
const purge = (body: unknown) => fetch(`${network.topology.control.url}/v1/purge`, { method: "POST", headers: auth(), body: JSON.stringify(body) });

/** The POP's own Cache-Status member: the last one (a shield's comes before it). */
async function status(popUrl: string, path: string): Promise<string> {
  const r = await fetch(`${popUrl}${path}`);
  await r.arrayBuffer();
  return (r.headers.get("cache-status") ?? "").split(", ").at(-1) ?? "";
}

/** Until every POP answers `path` from its own cache (a fill may fail under load; the purge is what is tested). */
async function warmEverywhere(path: string): Promise<void> {
  for (const pop of network.topology.pops) {
    await waitFor(`${pop.name} to hold ${path}`, async () => ((await status(pop.url, path)).includes(";hit") ? true : undefined), 3000);
  }
}

async function goneEverywhere(path: string): Promise<void> {
  for (const pop of network.topology.pops) {
    await waitFor(`${pop.name} to drop ${path}`, async () => ((await status(pop.url, path)).includes(";hit") ? undefined : true), 3000);
  }
}

function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "scripts", "purge.ts"), "--control", network.topology.control.url, "--token", network.topology.control.token, ...args],
      { cwd: ROOT },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

describe("purge", () => {
  it("by tag from the command line, at every POP, and the control plane knows who applied it", async () => {
    const tag = `t-${Date.now()}`;
    const path = `/gen/512?ttl=600&tag=${tag}`;
    await warmEverywhere(path);
    const { code, out } = await runCli(["--tag", tag, "--wait"]);
    expect(code, out).toBe(0);
    expect(out).toMatch(/applied at \d+ of \d+ POPs: /);
    expect(out).toMatch(/no POP can serve what was purged/);
    await goneEverywhere(path);
    const id = /purge (\w+):/.exec(out)![1];
    // POPs report the sequence they applied at their next sync, which traffic triggers.
    const st = await waitFor(
      "every POP to report the purge",
      async () => {
        for (const pop of network.topology.pops) await status(pop.url, "/index.html");
        const body = (await (await fetch(`${network.topology.control.url}/v1/purge/${id}`, { headers: auth() })).json()) as {
          pops: { name: string; applied: boolean; idle: boolean }[];
        };
        // A shield shard without traffic is idle: it applies the purge before it answers again.
        return body.pops.every((p) => p.applied || (p.name.startsWith("Outpost-Shield-") && p.idle)) ? body : undefined;
      },
      3000,
    );
    // Every POP, and the shield shards that have synced (they apply purges too).
    expect(st.pops.filter((p) => !p.name.startsWith("Outpost-Shield-")).length).toBe(4);
  });

  it("from the command line with --json: one object saying where the purge stands at each POP", async () => {
    const path = unique("/gen/513?ttl=600");
    await warmEverywhere(path);
    const { code, out } = await runCli(["--url", `http://127.0.0.1${path}`, "--wait", "--json"]);
    expect(code, out).toBe(0);
    const answer = JSON.parse(out) as { ok: boolean; id: string; seq: number; reach: { applied: string[]; idle: string[]; neverSynced: string[]; pending: string[] } };
    expect(answer.ok).toBe(true);
    expect(answer.reach.pending).toEqual([]);
    // The four POPs were busy: each has it.
    for (const pop of network.topology.pops) expect(answer.reach.applied).toContain(pop.name);
    await goneEverywhere(path);
  });

  it("by URL, prefix and host", async () => {
    const fra = network.topology.pops[1].url;
    const a = unique("/gen/100?ttl=600");
    const b = unique("/gen/101?ttl=600");
    for (const p of [a, b]) {
      await status(fra, p);
      expect(await status(fra, p)).toContain("hit");
    }
    expect((await purge({ files: [`http://127.0.0.1${a}`] })).status).toBe(200);
    await waitFor("url purge", async () => ((await status(fra, a)).includes(";hit") ? undefined : true), 3000);
    expect(await status(fra, b)).toContain("hit");
    expect((await purge({ prefixes: ["127.0.0.1/gen/101"] })).status).toBe(200);
    await waitFor("prefix purge", async () => ((await status(fra, b)).includes(";hit") ? undefined : true), 3000);
    const c = unique("/gen/102?ttl=600");
    await status(fra, c);
    expect((await purge({ hosts: ["127.0.0.1"] })).status).toBe(200);
    await waitFor("host purge", async () => ((await status(fra, c)).includes(";hit") ? undefined : true), 3000);
  });

  it("soft: marks stale, so the next request revalidates instead of refetching", async () => {
    const iad = network.topology.pops[0].url;
    const path = unique("/gen/200?ttl=600");
    await status(iad, path);
    expect(await status(iad, path)).toContain("hit");
    const r = await purge({ files: [`http://127.0.0.1${path}`], soft: true });
    expect(r.status).toBe(200);
    const after = await waitFor(
      "soft purge",
      async () => {
        const s = await status(iad, path);
        return s.includes(";hit") ? undefined : s;
      },
      3000,
    );
    expect(after).toMatch(/fwd=stale;fwd-status=304/);
  });

  it("everything", async () => {
    const sin = network.topology.pops[2].url;
    await waitFor("SIN to hold /index.html", async () => ((await status(sin, "/index.html")).includes(";hit") ? true : undefined), 3000);
    expect((await purge({ purge_everything: true })).status).toBe(200);
    await waitFor("purge everything", async () => ((await status(sin, "/index.html")).includes(";hit") ? undefined : true), 3000);
  });

  it("refuses bad bodies with a JSON error naming the field", async () => {
    const badHost = await purge({ files: ["https://elsewhere.example/x"] });
    expect(badHost.status).toBe(400);
    expect(JSON.stringify(await badHost.json())).toContain("files[0]");
    const tooMany = await purge({ tags: Array.from({ length: 101 }, (_, i) => `t${i}`) });
    expect(tooMany.status).toBe(400);
    const unknownField = await purge({ tags: ["a"], colour: "red" });
    expect(unknownField.status).toBe(400);
    const mixed = await purge({ tags: ["a"], purge_everything: true });
    expect(JSON.stringify(await mixed.json())).toContain("purge_everything");
    const broken = await fetch(`${network.topology.control.url}/v1/purge`, { method: "POST", headers: auth(), body: "{nope" });
    expect(broken.status).toBe(400);
    const huge = await fetch(`${network.topology.control.url}/v1/purge`, { method: "POST", headers: auth(), body: JSON.stringify({ tags: ["x".repeat(70_000)] }) });
    expect(huge.status).toBe(413);
    const anonymous = await fetch(`${network.topology.control.url}/v1/purge`, { method: "POST", body: "{}" });
    expect(anonymous.status).toBe(401);
    const { code, out } = await runCli(["--url", "https://elsewhere.example/x"]);
    expect(code).toBe(1);
    expect(out).toContain("files[0]");
  });

  it("exposes metrics and an OpenAPI document", async () => {
    const metrics = await (await fetch(`${network.topology.control.url}/metrics`, { headers: auth() })).text();
    expect(metrics).toMatch(/outpost_requests_total\{pop="Outpost-FRA"\} \d+/);
    expect(metrics).toMatch(/outpost_purge_lag_seconds\{pop="Outpost-IAD"\}/);
    expect(metrics).toMatch(/outpost_origin_pop_requests_total\{pop="Outpost-FRA",origin="eu-central"\}/);
    const doc = (await (await fetch(`${network.topology.control.url}/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/v1/purge");
  });

  it("holds each POP isolate's sync at its region's relay: the control plane holds one sync per relay", async () => {
    // Shield shards sync as POPs do; their names name no colo, so their relay is eastern North America's.
    const relays = new Set([...network.topology.pops.map((p) => relayFor(p.name)), ...(network.topology.shields.length > 0 ? ["enam"] : [])]);
    const metrics = () => fetch(`${network.topology.control.url}/metrics`, { headers: auth() }).then((r) => r.text());
    const seen = await waitFor(
      "every relay to hold its isolates' syncs, and the control plane only the relays'",
      async () => {
        // Traffic at every POP: an isolate arms its held sync behind a request.
        await Promise.all(network.topology.pops.map((p) => status(p.url, "/index.html")));
        const text = await metrics();
        const byRelay = new Map([...text.matchAll(/^outpost_relay_held_syncs\{relay="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
        const held = Number(/^outpost_held_syncs (\d+)$/m.exec(text)?.[1]);
        const ready = [...relays].every((r) => (byRelay.get(r) ?? 0) >= 1) && held === relays.size;
        return ready ? { byRelay, held } : undefined;
      },
      8000,
    );
    const isolates = network.topology.pops.length * network.topology.pops[0].isolates;
    expect([...seen.byRelay.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(isolates);
    expect(seen.held).toBeLessThan(isolates);
  });

  // Before the tests that restart the control plane: a restart can leave a POP polling for a minute (the fallback).
  it("reaches a POP through its held sync: applied there with no request to it after the purge", async () => {
    const fra = network.topology.pops.find((p) => p.colo === "FRA")!;
    const path = unique("/gen/304?ttl=600");
    await status(fra.url, path);
    expect(await status(fra.url, path)).toContain(";hit");
    // The request above armed FRA's held sync; polling alone would need another request to learn anything.
    await new Promise((r) => setTimeout(r, 300));
    const pops = (await (await fetch(`${network.topology.control.url}/v1/pops`, { headers: auth() })).json()) as { pops: { name: string; mode: string }[] };
    expect(pops.pops.find((p) => p.name === fra.name)?.mode).toBe("long-poll");
    const accepted = (await (await purge({ files: [`http://127.0.0.1${path}`] })).json()) as { result: { id: string } };
    await waitFor(
      "FRA to have applied the purge",
      async () => {
        const st = (await (await fetch(`${network.topology.control.url}/v1/purge/${accepted.result.id}`, { headers: auth() })).json()) as {
          pops: { name: string; applied: boolean }[];
        };
        return st.pops.find((p) => p.name === fra.name)?.applied ? true : undefined;
      },
      2000,
    );
    expect(await status(fra.url, path)).not.toContain(";hit");
  });

  it("POPs keep serving while the control plane is down, and catch up with every purge when it returns", async () => {
    const fra = network.topology.pops[1].url;
    const path = unique("/gen/300?ttl=600");
    await status(fra, path);
    expect(await status(fra, path)).toContain("hit");
    // A purge the control plane accepted just before it went down is not lost.
    const accepted = await purge({ files: [`http://127.0.0.1${path}`] });
    expect(accepted.status).toBe(200);
    const outage = network.restartControl(1500);
    await new Promise((r) => setTimeout(r, 300));
    const during = Date.now();
    expect(await status(fra, unique("/gen/301?ttl=600"))).toContain("fwd=uri-miss");
    expect(Date.now() - during).toBeLessThan(1000);
    await outage;
    await waitFor("FRA to apply the purge after the outage", async () => ((await status(fra, path)).includes(";hit") ? undefined : true), 5000);
    const after = unique("/gen/302?ttl=600");
    await status(fra, after);
    expect((await purge({ files: [`http://127.0.0.1${after}`] })).status).toBe(200);
    // Seconds, not a held sync's milliseconds: after an outage the relays (up to 4 s) and the isolates
    // (from 2 refresh intervals, doubling) retry with full-jitter backoff (README, "Regional relays"),
    // and a purge accepted soon after the return can wait for the next try. 3 s failed one CI run in three.
    await waitFor("a purge after the outage", async () => ((await status(fra, after)).includes(";hit") ? undefined : true), 6000);
  });

  it("takes purge volume that once broke it (100 long URLs a call), keeps every rule through a restart, and POPs keep applying", async () => {
    const fra = network.topology.pops[1].url;
    const long = `/${"l".repeat(400)}`;
    // 60 calls of 100 URLs of 400+ characters: about 2.5 MB of rules, past the size one stored value may have.
    for (let call = 0; call < 60; call++) {
      const files = Array.from({ length: 100 }, (_, i) => `http://127.0.0.1${long}/${call}/${i}`);
      const answer = await purge({ files });
      expect(answer.status, `call ${call}`).toBe(200);
    }
    await network.restartControl(0);
    const path = unique("/gen/303?ttl=600");
    await status(fra, path);
    expect(await status(fra, path)).toContain(";hit");
    const accepted = (await (await purge({ files: [`http://127.0.0.1${path}`] })).json()) as { result: { seq: number } };
    expect(accepted.result.seq).toBeGreaterThan(60);
    await waitFor("FRA to apply a purge after thousands", async () => ((await status(fra, path)).includes(";hit") ? undefined : true), 5000);
    const metrics = await (await fetch(`${network.topology.control.url}/metrics`, { headers: auth() })).text();
    expect(metrics).toMatch(/outpost_purge_rules_retained \d{2,}/);
  });

  it("serves through a control-plane outage without waiting on it, backs off, and takes purges again once it is back", async () => {
    const gru = network.topology.pops.find((p) => p.colo === "GRU")!;
    const cached = unique("/gen/305?ttl=600");
    await status(gru.url, cached);
    await new Promise((r) => setTimeout(r, 200));
    const outage = network.restartControl(2500);
    // Requests during the outage: the held sync breaks, and failed syncs back off (never faster
    // syncing under failure); the cached object is served all along, no request waiting.
    for (let i = 0; i < 6; i++) {
      const started = Date.now();
      expect(await status(gru.url, cached)).toContain(";hit");
      expect(Date.now() - started).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 300));
    }
    await outage;
    // Back: the next sync (within its backoff) brings purges again, by held syncs as before.
    expect((await purge({ files: [`http://127.0.0.1${cached}`] })).status).toBe(200);
    await waitFor("GRU to apply a purge after the outage", async () => ((await status(gru.url, cached)).includes(";hit") ? undefined : true), 8000);
    const pops = (await (await fetch(`${network.topology.control.url}/v1/pops`, { headers: auth() })).json()) as { pops: { name: string; mode: string }[] };
    expect(pops.pops.find((p) => p.name === gru.name)?.mode).toBe("long-poll");
  });
  it("a POP started again after many purges (new isolates, the colo's old entries) catches up in one folded answer and serves nothing purged", async () => {
    const index = 2;
    const pop = () => network.topology.pops[index];
    const tag = `before-restart-${Date.now()}`;
    const byTag = unique(`/gen/710?ttl=600&tag=${tag}`);
    const byUrl = unique("/gen/711?ttl=600");
    for (const path of [byTag, byUrl]) {
      await status(pop().url, path);
      expect(await status(pop().url, path)).toContain(";hit");
    }
    const catchUps = async () =>
      Number(/^outpost_purge_catch_ups_total (\d+)$/m.exec(await (await fetch(`${network.topology.control.url}/metrics`, { headers: auth() })).text())?.[1]);
    const catchUpsBefore = await catchUps();
    // While the POP is away: its two objects purged, among more rules than PURGE_CATCH_UP_AFTER.
    let newest = 0;
    await network.restartPop(index, async () => {
      for (const body of [{ tags: [tag] }, { files: [`http://127.0.0.1${byUrl}`] }, ...Array.from({ length: 8 }, (_, i) => ({ tags: [`filler-${tag}-${i}`] }))]) {
        const answer = await purge(body);
        expect(answer.status).toBe(200);
        newest = ((await answer.json()) as { result: { seq: number } }).result.seq;
      }
    });
    // New isolates: the first request waits for their first sync, which sends them to the catch-up.
    expect(await status(pop().url, byTag)).not.toContain(";hit");
    expect(await status(pop().url, byUrl)).not.toContain(";hit");
    // Its relay may still be out of touch after the control plane's restart in a test before: its isolates
    // then hold what it vouches for only once it is back (within a second), serving nothing purged meanwhile.
    const popStatus = await waitFor("the restarted POP's isolate to hold every rule", async () => {
      const s = (await (await fetch(`${pop().url}/__outpost/status`, { headers: auth() })).json()) as { purgeRules: { highestSeq: number; inForce: number } };
      return s.purgeRules.highestSeq >= newest ? s : undefined;
    });
    expect(popStatus.purgeRules.inForce).toBeGreaterThan(0);
    // Its isolates (and nothing else) fetched the folded catch-up; none paged through the rules.
    expect(await catchUps()).toBeGreaterThan(catchUpsBefore);
  });
  it("a POP started while the control plane is away serves nothing it stored before, until its first sync", async () => {
    const index = 3;
    const pop = () => network.topology.pops[index];
    const path = unique("/gen/720?ttl=600");
    await status(pop().url, path);
    expect(await status(pop().url, path)).toContain(";hit");
    const outage = network.restartControl(3000);
    await new Promise((r) => setTimeout(r, 300));
    await network.restartPop(index);
    // Its first sync fails: a purge may have come meanwhile, so the colo's older entries are misses.
    expect(await status(pop().url, path)).not.toContain(";hit");
    await outage;
    const later = unique("/gen/721?ttl=600");
    await status(pop().url, later);
    await waitFor("the POP to sync and hit again", async () => ((await status(pop().url, later)).includes(";hit") ? true : undefined), 8000);
  });
});
