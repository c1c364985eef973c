import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../common/config";
import { PurgeRules } from "../../edge/cache/purge-rules";
import { keyPrefixOf } from "../../common/cache-key";
import { cloudflarePurgeBodies } from "../../control/cloudflare-purge";
import { parsePurgeRequest } from "../../control/purge-request";
import { RateLimiter } from "../../common/rate-limit";
import { ControlState } from "../../control/state";
import { MemoryControlStorage } from "../../control/storage";

const config = parseConfig({
  origins: [{ id: "o", url: "http://127.0.0.1:1", region: "eu-central" }],
  sites: [{ id: "s", hosts: ["cdn.example.com", "img.example.com"], origins: ["o"] }],
});

describe("purge rules", () => {
  it("count everything fetched before a rule still on its way as purged, until it is here", () => {
    const rules = new PurgeRules(86_400_000);
    const now = Date.now();
    rules.setPending(now - 1000);
    expect(rules.verdict("https://h/a", [], now - 5000).kind).toBe("hard");
    expect(rules.verdict("https://h/a", [], now - 500).kind).toBe("none");
    rules.setPending(0);
    expect(rules.verdict("https://h/a", [], now - 5000).kind).toBe("none");
  });

  it("keep a cold isolate's bound through an answer its relay could not vouch for, and lift it at one it can", () => {
    const rules = new PurgeRules(86_400_000);
    const startedAt = Date.now();
    rules.setPending(startedAt);
    // The relay is out of touch with the global object: what it holds may miss purges made since.
    rules.noteIssued({ purgeSeq: 0, unconfirmed: true }, 0, 0);
    expect(rules.verdict("https://h/a", [], startedAt - 5000).kind).toBe("hard");
    rules.noteIssued({ purgeSeq: 0 }, 0, 0);
    expect(rules.verdict("https://h/a", [], startedAt - 5000).kind).toBe("none");
  });

  it("count what was fetched before the newest rule issued as purged while the rules are on their way", () => {
    const rules = new PurgeRules(86_400_000);
    const now = Date.now();
    rules.noteIssued({ purgeSeq: 9, purgeAt: now - 1000 }, 0, 0);
    expect(rules.verdict("https://h/a", [], now - 5000).kind).toBe("hard");
    expect(rules.verdict("https://h/a", [], now - 500).kind).toBe("none");
  });

  const rule = (seq: number, at: number, targets: never[] | object[], soft = false) => ({ seq, id: `p${seq}`, at, soft, targets }) as never;
  it("hard rules remove entries fetched before them; later fills survive", () => {
    const rules = new PurgeRules(86_400_000);
    rules.apply([rule(1, 1000, [{ kind: "tag", value: "product-42" }])], 1000);
    expect(rules.verdict("https://cdn.example.com/a", ["product-42"], 999).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/a", ["product-42"], 1001).kind).toBe("none");
    expect(rules.verdict("https://cdn.example.com/a", ["other"], 999).kind).toBe("none");
  });
  it("matches URL, prefix, host and everything", () => {
    const rules = new PurgeRules(86_400_000);
    rules.apply(
      [
        rule(1, 1000, [{ kind: "url", value: "https://cdn.example.com/x?a=1" }]),
        rule(2, 2000, [{ kind: "prefix", value: keyPrefixOf("cdn.example.com/static/") }]),
        rule(3, 3000, [{ kind: "host", value: "img.example.com" }]),
      ],
      3000,
    );
    expect(rules.verdict("https://cdn.example.com/x?a=1", [], 0).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/x?a=2", [], 0).kind).toBe("none");
    expect(rules.verdict("https://cdn.example.com/static/app.js", [], 0).kind).toBe("hard");
    expect(rules.verdict("https://img.example.com/logo.png", [], 0).kind).toBe("hard");
    rules.apply([rule(4, 4000, [{ kind: "everything" }], true)], 4000);
    expect(rules.verdict("https://cdn.example.com/other", [], 0)).toMatchObject({ kind: "soft", at: 4000 });
  });
  it("a hard rule wins over a later soft one, and many rules cost one probe each kind", () => {
    const rules = new PurgeRules(86_400_000);
    rules.apply([rule(1, 1000, [{ kind: "tag", value: "a" }]), rule(2, 2000, [{ kind: "tag", value: "a" }], true)], 2000);
    expect(rules.verdict("https://cdn.example.com/x", ["a"], 500).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/x", ["a"], 1500)).toMatchObject({ kind: "soft", at: 2000 });
    const many = Array.from({ length: 5000 }, (_, i) => rule(3 + i, 3000 + i, [{ kind: "url", value: `https://cdn.example.com/u${i}` }]));
    rules.apply(many, 9000);
    // Names with a purge in force: tag "a" (twice) and 5,000 URLs.
    expect(rules.size).toBe(5001);
    expect(rules.verdict("https://cdn.example.com/u4999", [], 7000).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/u4999", [], 9000).kind).toBe("none");
  });
  it("never takes a fill made just after a purge for purged (no herd after purge everything)", () => {
    const rules = new PurgeRules(86_400_000);
    const at = 1_800_000_000_123;
    rules.apply([rule(1, at, [{ kind: "everything" }]), rule(2, at, [{ kind: "host", value: "cdn.example.com" }])], at);
    expect(rules.verdict("https://cdn.example.com/a", [], at - 1).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/a", [], at + 20).kind).toBe("none");
  });
  it("matches prefixes at path separators, as Cloudflare does", () => {
    const rules = new PurgeRules(86_400_000);
    rules.apply([rule(1, 5000, [{ kind: "prefix", value: keyPrefixOf("cdn.example.com/foo") }])], 5000);
    for (const key of ["https://cdn.example.com/foo", "https://cdn.example.com/foo/", "https://cdn.example.com/foo/bar/baz.jpg?x=1"]) {
      expect(rules.verdict(key, [], 0).kind, key).toBe("hard");
    }
    for (const key of ["https://cdn.example.com/foobar", "https://cdn.example.com/fo", "https://img.example.com/foo/bar"]) {
      expect(rules.verdict(key, [], 0).kind, key).toBe("none");
    }
  });
  it("keeps a hard URL rule for its grace period only, other kinds for the horizon", () => {
    const rules = new PurgeRules(86_400_000, 60_000);
    rules.apply(
      [
        rule(1, 1_000_000, [
          { kind: "url", value: "https://cdn.example.com/a" },
          { kind: "tag", value: "t" },
        ]),
      ],
      1_000_000,
    );
    expect(rules.verdict("https://cdn.example.com/a", [], 0).kind).toBe("hard");
    rules.prune(1_000_000 + 120_000, true);
    expect(rules.verdict("https://cdn.example.com/a", [], 0).kind).toBe("none");
    expect(rules.verdict("https://cdn.example.com/b", ["t"], 0).kind).toBe("hard");
  });
  it("holds 800,000 purges of a window (mixed kinds) in a few MiB, and answers the same", () => {
    const rules = new PurgeRules(8 * 86_400_000, 15 * 60_000);
    const start = 1_800_000_000_000;
    const batch: object[] = [];
    const kinds = ["url", "url", "url", "url", "tag", "tag", "tag", "prefix", "prefix", "host"];
    for (let i = 0; i < 800_000; i++) {
      const kind = kinds[i % kinds.length];
      const value =
        kind === "url" ? `https://cdn.example.com/p/${i}` : kind === "tag" ? `tag-${i}` : kind === "prefix" ? `https://cdn.example.com/dir/${i}` : `h${i % 50}.example.com`;
      batch.push({ kind, value });
      if (batch.length === 1000) {
        const seq = i / 1000 + 1;
        rules.apply([rule(seq, start + i * 864, batch.splice(0))], start + i * 864);
      }
    }
    // Hard URL rules older than the grace are gone; tags, prefixes and hosts remain: about 480,000 names.
    expect(rules.size).toBeLessThan(500_000);
    expect(rules.bytes).toBeLessThan(32 * 1024 * 1024);
    expect(rules.verdict("https://cdn.example.com/x", ["tag-799994"], start).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/dir/799998/a.css", [], start).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/dir/7999/a.css", ["tag-unknown"], start + 800_000 * 864).kind).toBe("none");
  });
  it("corrects for the control plane's clock and drops rules past the horizon", () => {
    const rules = new PurgeRules(10_000);
    // Control clock 500 ms ahead of ours: its t=1500 is our 1000.
    rules.apply([rule(1, 1500, [{ kind: "everything" }])], 1000, 500, 0);
    expect(rules.verdict("https://cdn.example.com/a", [], 999).kind).toBe("hard");
    expect(rules.verdict("https://cdn.example.com/a", [], 1001).kind).toBe("none");
    rules.prune(20_000);
    expect(rules.size).toBe(0);
  });
});

describe("purge requests", () => {
  it("normalizes Cloudflare's body", () => {
    const r = parsePurgeRequest(
      {
        files: ["https://cdn.example.com/a?utm_source=x&b=1", { url: "http://img.example.com/i.png" }],
        tags: ["t"],
        prefixes: ["cdn.example.com/s/"],
        hosts: ["IMG.example.com"],
        soft: true,
      },
      config,
    );
    expect(r).toMatchObject({
      ok: true,
      soft: true,
      targets: [
        { kind: "url", value: "https://cdn.example.com/a?b=1" },
        { kind: "url", value: "https://img.example.com/i.png" },
        { kind: "prefix", value: "https://cdn.example.com/s/" },
        { kind: "host", value: "img.example.com" },
        { kind: "tag", value: "t" },
      ],
    });
  });
  it("names each bad item", () => {
    const r = parsePurgeRequest({ files: ["https://cdn.example.com/ok", "https://evil.example/x", "not a url"], tags: ["a b"] }, config);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.field)).toEqual(["files[1]", "files[2]", "tags[0]"]);
    const wrongType = parsePurgeRequest({ tags: "product-42" }, config);
    expect(!wrongType.ok && wrongType.problems[0].field).toBe("tags");
    expect(parsePurgeRequest({}, config).ok).toBe(false);
  });
});

describe("control state", () => {
  it("a snapshot read by a POP keeps the purge sequence that POP reported; metrics read it in one call", async () => {
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      Date.now,
      () => undefined,
    );
    await state.purge([{ kind: "tag", value: "t" }], false, "p1");
    await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 1 });
    await state.snapshot("Outpost-FRA", 0);
    expect((await state.pops())[0].purgeSeqApplied).toBe(1);
    const metrics = await state.metrics();
    expect(metrics.purgeSeq).toBe(1);
    expect(metrics.pops.map((p) => p.name)).toEqual(["Outpost-FRA"]);
  });
});

describe("rate limit", () => {
  it("refuses past the budget and says when to come back", () => {
    const limiter = new RateLimiter(60);
    for (let i = 0; i < 60; i++) expect(limiter.take("ops", 0).ok).toBe(true);
    expect(limiter.take("ops", 0)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limiter.take("ops", 1000).ok).toBe(true);
    expect(limiter.take("other", 0).ok).toBe(true);
  });
});

describe("Cloudflare purge, against a local fake of its API", () => {
  // The documented contract: POST /client/v4/zones/{zone_id}/purge_cache, Bearer token,
  // one of files | tags | hosts | prefixes | purge_everything per call, at most 100 items,
  // answered with {success, errors, messages, result: {id}}.
  const calls: { zone: string; auth: string | undefined; body: Record<string, unknown> }[] = [];
  let base = "";
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    const m = /^\/client\/v4\/zones\/([^/]+)\/purge_cache$/.exec(req.url ?? "");
    const body = JSON.parse(text || "{}") as Record<string, unknown>;
    const kinds = ["files", "tags", "hosts", "prefixes", "purge_everything"].filter((k) => k in body);
    const items = kinds.filter((k) => Array.isArray(body[k])).reduce((n, k) => n + (body[k] as unknown[]).length, 0);
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    };
    if (req.method !== "POST" || !m) return send(404, { success: false, errors: [{ code: 7000, message: "No route" }], messages: [], result: null });
    if (req.headers.authorization !== "Bearer cf-token")
      return send(403, { success: false, errors: [{ code: 10000, message: "Authentication error" }], messages: [], result: null });
    if (kinds.length !== 1 || items > 100)
      return send(400, {
        success: false,
        errors: [{ code: 1012, message: "Request must contain one of purge_everything, files, tags, hosts or prefixes" }],
        messages: [],
        result: null,
      });
    calls.push({ zone: m[1], auth: req.headers.authorization, body });
    send(200, { success: true, errors: [], messages: [], result: { id: "9a7806061c88ada191ed06f989cc3dac" } });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("splits a rule into one call per kind, at most 100 items each", () => {
    const files = Array.from({ length: 150 }, (_, i) => ({ kind: "url" as const, value: `https://cdn.example.com/${i}` }));
    const bodies = cloudflarePurgeBodies([...files, { kind: "tag", value: "t" }, { kind: "prefix", value: "https://cdn.example.com/s/" }]);
    expect(bodies.map((b) => Object.keys(b)[0])).toEqual(["files", "files", "prefixes", "tags"]);
    expect((bodies[0].files as string[]).length).toBe(100);
    expect(bodies[2]).toEqual({ prefixes: ["cdn.example.com/s/"] });
  });

  it("the control plane calls it with the same items as the purge", async () => {
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      Date.now,
      () => undefined,
      {
        cloudflare: { zoneId: "zone-1", apiToken: "cf-token", apiBase: base },
      },
    );
    await state.purge(
      [
        { kind: "tag", value: "product-42" },
        { kind: "url", value: "https://cdn.example.com/a" },
      ],
      false,
      "p1",
    );
    expect(calls).toEqual([
      { zone: "zone-1", auth: "Bearer cf-token", body: { files: ["https://cdn.example.com/a"] } },
      { zone: "zone-1", auth: "Bearer cf-token", body: { tags: ["product-42"] } },
    ]);
    const status = await state.purgeStatus("p1");
    expect(status?.cloudflare).toMatchObject({ ok: true });
    const bad = new ControlState(
      new MemoryControlStorage(),
      () => config,
      Date.now,
      () => undefined,
      {
        cloudflare: { zoneId: "zone-1", apiToken: "wrong", apiBase: base },
      },
    );
    await bad.purge([{ kind: "everything" }], false, "p2");
    expect((await bad.purgeStatus("p2"))?.cloudflare).toMatchObject({ ok: false, calls: [{ status: 403 }] });
  });

  it("keeps thousands of purges as rows: a restart finds them all, the sequence goes on, POPs page through them", async () => {
    const storage = new MemoryControlStorage();
    const first = new ControlState(
      storage,
      () => config,
      Date.now,
      () => undefined,
      { purgePageSize: 500 },
    );
    const longPath = `/${"p".repeat(400)}`;
    for (let i = 0; i < 3000; i++) {
      await first.purge(
        Array.from({ length: 3 }, (_, j) => ({ kind: "url" as const, value: `https://cdn.example.com${longPath}/${i}/${j}` })),
        false,
        `id-${i}`,
      );
    }
    // No value grows with history: every purge is a row of its own, and the state's values stay small.
    expect(storage.purges.length).toBe(3000);
    for (const [, table] of storage.tables) for (const [, value] of table) expect(value.length).toBeLessThan(4096);

    const restarted = new ControlState(
      storage,
      () => config,
      Date.now,
      () => undefined,
      { purgePageSize: 500, catchUpAfter: 5000 },
    );
    const next = await restarted.purge([{ kind: "tag", value: "after-restart" }], false, "after");
    expect(next.seq).toBe(3001);
    const page = await restarted.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0 });
    expect(page.purges.length).toBe(500);
    expect(page.purges[0].seq).toBe(1);
    expect(page.purgeSeq).toBe(3001);
    // When the newest rule was accepted, from the restarted state as from a live one: a POP this far behind
    // treats whatever was fetched before it as purged until the pages are all in.
    expect(page.purgeAt).toBe(next.at);
    const later = await restarted.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 3000, epoch: page.purgeEpoch });
    expect(later.purges.map((r) => r.id)).toEqual(["after"]);
  });

  it("the in-memory storage prunes a busy site's log (800,000 rules) as the SQL one does", async () => {
    const storage = new MemoryControlStorage();
    for (let seq = 1; seq <= 800_000; seq++) storage.purges.push({ seq, id: `p${seq}`, at: seq, soft: false, targets: [] });
    expect(await storage.prunePurges(1)).toEqual([]);
    expect((await storage.prunePurges(3)).length).toBe(2);
    expect(storage.purges.length).toBe(799_998);
    expect(storage.purges[0].seq).toBe(3);
  });

  it("holds a waiting sync until a purge, answers every held sync together, and at its bound when nothing comes", async () => {
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      Date.now,
      () => undefined,
    );
    const first = await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0 });
    const position = { have: first.version, purgeSeq: first.purgeSeq, epoch: first.purgeEpoch };
    const held = [state.sync({ pop: "Outpost-FRA", ...position }, 10_000), state.sync({ pop: "Outpost-IAD", ...position }, 10_000)];
    await new Promise((r) => setTimeout(r, 50));
    expect(state.heldSyncs).toBe(2);
    const started = Date.now();
    await state.purge([{ kind: "tag", value: "t" }], false, "p1");
    const answers = await Promise.all(held);
    expect(answers.map((a) => a.purges.map((r) => r.id))).toEqual([["p1"], ["p1"]]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(state.heldSyncs).toBe(0);
    const quiet = await state.sync({ pop: "Outpost-FRA", have: answers[0].version, purgeSeq: 1, epoch: first.purgeEpoch }, 100);
    expect(quiet.purges).toEqual([]);
    // News the POP has not seen yet is answered at once, without holding.
    const behind = await state.sync({ pop: "Outpost-GRU", have: 0, purgeSeq: 0, epoch: first.purgeEpoch }, 10_000);
    expect(behind.purges.map((r) => r.id)).toEqual(["p1"]);
  });

  it("a POP from another epoch (the control plane lost its state) is served from sequence zero", async () => {
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      Date.now,
      () => undefined,
    );
    await state.purge([{ kind: "tag", value: "t" }], false, "p1");
    const snapshot = await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 40, epoch: "an-old-epoch" });
    expect(snapshot.purges.map((r) => r.id)).toEqual(["p1"]);
    expect(snapshot.purgeEpoch).not.toBe("an-old-epoch");
  });

  it("counts a purge as applied at a POP once a sync answer has delivered it (POPs apply rules on receipt)", async () => {
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      Date.now,
      () => undefined,
    );
    await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0 });
    await state.purge([{ kind: "tag", value: "t" }], false, "p1");
    expect((await state.purgeStatus("p1"))?.pops[0]).toMatchObject({ applied: false });
    const answer = await state.sync({ pop: "Outpost-FRA", have: 0, purgeSeq: 0 });
    expect(answer.purges.map((r) => r.id)).toEqual(["p1"]);
    expect((await state.purgeStatus("p1"))?.pops[0]).toMatchObject({ name: "Outpost-FRA", applied: true, idle: false });
  });

  it("a probe writes the origin's health row, not the purge history", async () => {
    const storage = new MemoryControlStorage();
    const state = new ControlState(
      storage,
      () => config,
      Date.now,
      () => undefined,
    );
    await state.purge([{ kind: "tag", value: "t" }], false, "p1");
    storage.writes = [];
    await state.runProbes(async () => new Response("ok"));
    expect(storage.writes.some((w) => w.table === "active" && w.id === "o")).toBe(true);
    expect(storage.writes.some((w) => w.table === "purges")).toBe(false);
  });

  it("a POP's report cannot mark an origin down for longer than the longest ejection", async () => {
    const now = 1_000_000;
    const state = new ControlState(
      new MemoryControlStorage(),
      () => config,
      () => now,
      () => undefined,
    );
    await state.report({ pop: "Outpost-FRA", events: [{ kind: "ejected", originId: "o", at: now, until: now + 365 * 86400_000, reason: "x" }] });
    const health = await state.health();
    expect(health.origins.o.passive?.until).toBe(now + config.outlierDetection.maxEjectionMs);
  });
});
