import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { ControlClient } from "../../scripts/control-client";
import { describeReach, purgeReach } from "../../scripts/purge-reach";

describe("npm run purge", () => {
  it("says where a purge stands in words that cannot be misread", () => {
    const reach = purgeReach(
      {
        pops: [
          { name: "Outpost-FRA", applied: true, idle: false, lastSyncAt: 2 },
          { name: "Outpost-GRU", applied: false, idle: true, lastSyncAt: 0 },
        ],
      },
      ["Outpost-FRA", "Outpost-GRU", "Outpost-SIN"],
    );
    expect(reach).toEqual({ applied: ["Outpost-FRA"], idle: ["Outpost-GRU"], neverSynced: ["Outpost-SIN"], pending: [] });
    const text = describeReach(reach, 40).join("\n");
    expect(text).toContain("applied at 1 of 3 POPs: Outpost-FRA");
    expect(text).toContain("idle, will apply it before answering their next request: Outpost-GRU");
    expect(text).toContain("never synced, will load every purge before their first answer: Outpost-SIN");
    expect(text).toContain("no POP can serve what was purged (after 40 ms)");
    // Nothing applied yet is said as such, never as "applied at every POP: none".
    expect(describeReach({ applied: [], idle: ["Outpost-GRU"], neverSynced: [], pending: [] }, 5).join("\n")).toContain("applied at no POP yet (of 1)");
  });

  it("retries a 429 after its Retry-After, and a 503, through undici's RetryAgent", async () => {
    let calls = 0;
    const server = createServer((req, res) => {
      calls++;
      if (calls === 1) res.writeHead(429, { "retry-after": "1", "content-type": "application/json" }).end('{"error":"slow down"}');
      else if (calls === 2) res.writeHead(503, { "content-type": "application/json" }).end('{"error":"restarting"}');
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ method: req.method, auth: req.headers.authorization }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = new ControlClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: "opk_t" });
    try {
      const started = Date.now();
      const answer = await client.call<{ method: string; auth: string }>("POST", "/v1/purge", { tags: ["a"] });
      expect(answer).toEqual({ status: 200, body: { method: "POST", auth: "Bearer opk_t" } });
      expect(calls).toBe(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      await client.close();
      server.close();
    }
  });
});
