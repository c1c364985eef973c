/** The control API inside workerd, reached the way POPs reach it on Cloudflare (CONTROL_HOSTS). */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../control/routes";
import { decodeCatchUp } from "../../common/catch-up";
import { ADMIN_TOKEN, LIMITED_TOKEN, POP_TOKEN, READ_TOKEN } from "./env";

const control = (path: string, init: RequestInit = {}) => SELF.fetch(`https://control.test${path}`, init);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("control API", () => {
  it("refuses requests without a valid token", async () => {
    expect((await control("/v1/origins")).status).toBe(401);
    expect((await control("/v1/origins", { headers: bearer("wrong-token-xxxxxxxxxxxxxxxx") })).status).toBe(401);
  });

  it("refuses a token without the scope", async () => {
    const response = await control("/v1/origins/local", {
      method: "PATCH",
      headers: { ...bearer(READ_TOKEN), "content-type": "application/json" },
      body: JSON.stringify({ weight: 5 }),
    });
    expect(response.status).toBe(403);
  });

  it("serves snapshots to POPs and records their sync", async () => {
    const snapshot = await control("/v1/snapshot?pop=Outpost-XYZ&have=0", { headers: bearer(POP_TOKEN) });
    expect(snapshot.status).toBe(200);
    expect(await snapshot.json()).toMatchObject({ version: expect.any(Number) });
    const pops = (await (await control("/v1/pops", { headers: bearer(READ_TOKEN) })).json()) as { pops: { name: string }[] };
    expect(pops.pops.map((p) => p.name)).toContain("Outpost-XYZ");
  });

  it("answers as its routes declare: every field declared, each of the declared type", async () => {
    await (await control("/v1/snapshot?pop=Outpost-SCH&have=0", { headers: bearer(POP_TOKEN) })).text();
    const purge = await control("/v1/purge", {
      method: "POST",
      headers: { ...bearer(ADMIN_TOKEN), "content-type": "application/json" },
      body: JSON.stringify({ prefixes: ["https://cdn.test/schema/"] }),
    });
    const { result } = (await purge.json()) as { result: { id: string } };
    const answers = {
      purgeStatus: `/v1/purge/${result.id}`,
      health: "/v1/health",
      pops: "/v1/pops",
      dashboardData: "/v1/dashboard",
    } as const;
    for (const [route, path] of Object.entries(answers) as [keyof typeof answers, string][]) {
      const body: unknown = await (await control(path, { headers: bearer(READ_TOKEN) })).json();
      // Parsing strips undeclared fields: equal only if the answer holds nothing the schema does not.
      expect(ROUTES[route].answers[200].schema.parse(body), route).toEqual(body);
    }
  });

  it("patches an origin and names bad fields", async () => {
    const headers = { ...bearer(ADMIN_TOKEN), "content-type": "application/json" };
    const bad = await control("/v1/origins/local", { method: "PATCH", headers, body: JSON.stringify({ weight: -1, colour: "red" }) });
    expect(bad.status).toBe(400);
    const problems = ((await bad.json()) as { problems: { field: string }[] }).problems.map((p) => p.field);
    expect(problems.join(" ")).toMatch(/weight|colour/);
    const unknown = await control("/v1/origins/nope", { method: "PATCH", headers, body: JSON.stringify({ weight: 5 }) });
    expect(unknown.status).toBe(404);
    const broken = await control("/v1/origins/local", { method: "PATCH", headers, body: "{" });
    expect(broken.status).toBe(400);
    const ok = await control("/v1/origins/local", { method: "PATCH", headers, body: JSON.stringify({ weight: 50 }) });
    expect(ok.status).toBe(200);
    const origins = (await (await control("/v1/origins", { headers: bearer(READ_TOKEN) })).json()) as { origins: { id: string; weight: number }[] };
    expect(origins.origins.find((o) => o.id === "local")?.weight).toBe(50);
  });

  it("needs the purge scope to purge", async () => {
    const r = await control("/v1/purge", { method: "POST", headers: { ...bearer(READ_TOKEN), "content-type": "application/json" }, body: JSON.stringify({ tags: ["a"] }) });
    expect(r.status).toBe(403);
    const ok = await control("/v1/purge", { method: "POST", headers: { ...bearer(ADMIN_TOKEN), "content-type": "application/json" }, body: JSON.stringify({ tags: ["a"] }) });
    expect(ok.status).toBe(200);
    const id = ((await ok.json()) as { result: { id: string } }).result.id;
    const status = await control(`/v1/purge/${id}`, { headers: bearer(READ_TOKEN) });
    expect(await status.json()).toMatchObject({ id, cloudflare: "not configured" });
  });

  it("answers Cloudflare's paths in Cloudflare's envelope, errors included", async () => {
    type Envelope = { success: boolean; errors: { code: number; message: string }[]; result: unknown };
    const unauthenticated = await control("/client/v4/zones");
    expect(unauthenticated.status).toBe(401);
    expect((await unauthenticated.json()) as Envelope).toMatchObject({ success: false, errors: [{ code: 10000 }], result: null });
    const zones = (await (await control("/client/v4/zones?per_page=50", { headers: bearer(READ_TOKEN) })).json()) as Envelope & {
      result: { id: string }[];
      result_info: { total_count: number };
    };
    expect(zones.success).toBe(true);
    expect(zones.result_info.total_count).toBe(zones.result.length);
    const purge = (body: string, type = "application/json") =>
      control(`/client/v4/zones/${zones.result[0].id}/purge_cache`, { method: "POST", headers: { ...bearer(ADMIN_TOKEN), "content-type": type }, body });
    const wrongType = await purge("tags=a", "application/x-www-form-urlencoded");
    expect(wrongType.status).toBe(415);
    expect(((await wrongType.json()) as Envelope).success).toBe(false);
    const tooBig = await purge(JSON.stringify({ tags: ["x".repeat(70_000)] }));
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as Envelope).errors[0].code).toBe(1013);
    const notJson = await purge("{");
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as Envelope).success).toBe(false);
    const unknownRoute = await control("/client/v4/accounts", { headers: bearer(READ_TOKEN) });
    expect(unknownRoute.status).toBe(404);
    expect(((await unknownRoute.json()) as Envelope).success).toBe(false);
    // Outpost's own paths keep Outpost's shape.
    expect(await (await control("/v1/origins")).json()).toMatchObject({ status: 401, error: expect.any(String) });
  });

  it("limits each token's rate with 429 and Retry-After", async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 400 && !limited; i++) {
      const r = await control("/v1/origins", { headers: bearer(LIMITED_TOKEN) });
      if (r.status === 429) limited = r;
      else await r.arrayBuffer();
    }
    expect(limited?.status).toBe(429);
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("limits failed authentications per client address, so tokens cannot be guessed at speed", async () => {
    const guess = (address: string) => control("/v1/origins", { headers: { ...bearer(`guess-${Math.random()}-xxxxxxxxxxxx`), "cf-connecting-ip": address } });
    const statuses: number[] = [];
    // CONTROL_RATE_LIMIT_PER_MINUTE is 120 in the test bindings; the bucket refills as the guesses go
    // on (2 a second), so guess until refused, within a bound a slow machine cannot reach.
    for (let i = 0; i < 400 && statuses.at(-1) !== 429; i++) statuses.push((await guess("203.0.113.7")).status);
    expect(statuses.slice(0, 100).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    // Another address is not held back by the guesser's failures.
    expect((await guess("198.51.100.1")).status).toBe(401);
  });
  it("keeps a folded catch-up in the colo's cache for the colo's other isolates, per epoch and band of positions", async () => {
    const sync = (await (
      await control("/v1/sync", {
        method: "POST",
        headers: { ...bearer(POP_TOKEN), "content-type": "application/json" },
        body: JSON.stringify({ pop: "Outpost-CUP", have: 0, purgeSeq: 0 }),
      })
    ).json()) as { purgeEpoch: string };
    const base = 1000 * Math.floor(Math.random() * 1e6);
    const ask = (after: number, epoch = sync.purgeEpoch) => control(`/v1/sync/catch-up?epoch=${epoch}&after=${after}`, { headers: bearer(POP_TOKEN) });
    const first = await ask(base);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-outpost-catch-up")).toBe("control plane");
    const bytes = new Uint8Array(await first.arrayBuffer());
    expect(decodeCatchUp(bytes).header.epoch).toBe(sync.purgeEpoch);
    // Another isolate of the colo, within the band (PURGE_CATCH_UP_AFTER / 2): the colo's copy.
    const second = await ask(base + 999);
    expect(second.headers.get("x-outpost-catch-up")).toBe("colo");
    expect(new Uint8Array(await second.arrayBuffer())).toEqual(bytes);
    // Past the band, or of another epoch (never kept): the control plane again.
    expect((await ask(base + 1000)).headers.get("x-outpost-catch-up")).toBe("control plane");
    for (let i = 0; i < 2; i++) expect((await ask(base, "another-epoch")).headers.get("x-outpost-catch-up")).toBe("control plane");
    expect((await control("/v1/sync/catch-up", { headers: bearer(READ_TOKEN) })).status).toBe(403);
  });
});
