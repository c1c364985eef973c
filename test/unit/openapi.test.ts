/**
 * The OpenAPI document is generated from the route declarations: it must be
 * valid OpenAPI 3.1, and name exactly the routes the app registers.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { createControlApp } from "../../control/api";
import { documentedMethod, openApiPath } from "../../control/openapi";
import { ROUTES } from "../../control/routes";
import type { ControlPlaneRpc } from "../../control/rpc";

const app = createControlApp({ plane: () => ({}) as ControlPlaneRpc });
const env = {
  OUTPOST_CONFIG: JSON.stringify({ origins: [{ id: "o", url: "http://127.0.0.1:1", region: "us-east" }], sites: [{ id: "s", hosts: ["example.com"], origins: ["o"] }] }),
};

async function servedDocument(): Promise<{ openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>> }> {
  const response = await app.request("/v1/openapi.json", {}, env);
  expect(response.status).toBe(200);
  return (await response.json()) as never;
}

describe("OpenAPI document", () => {
  it("is valid OpenAPI 3.1", async () => {
    const document = await servedDocument();
    expect(document.openapi).toBe("3.1.0");
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("names every route the app registers, and no other", async () => {
    const document = await servedDocument();
    const registered = new Set(
      app.routes.filter((r) => r.method !== "ALL" || r.path !== "/*").map((r) => `${r.method === "ALL" ? "get" : r.method.toLowerCase()} ${openApiPath(r.path)}`),
    );
    const documented = new Set(Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`)));
    expect([...documented].sort()).toEqual([...registered].sort());
    expect(documented.size).toBe(Object.keys(ROUTES).length);
  });

  it("states each route's errors: auth ones where a scope is needed, body ones where a body is read", async () => {
    const document = await servedDocument();
    for (const spec of Object.values(ROUTES)) {
      const operation = document.paths[openApiPath(spec.path)][documentedMethod(spec)];
      const statuses = Object.keys(operation.responses);
      if ("scope" in spec) expect(statuses, spec.path).toEqual(expect.arrayContaining(["401", "403", "429"]));
      if ("body" in spec) expect(statuses, spec.path).toEqual(expect.arrayContaining(["400", "413", "415"]));
      expect(statuses, spec.path).toContain("500");
    }
    expect(document.paths["/client/v4/zones/{zone_id}/purge_cache"].post.responses).toHaveProperty("404");
  });
});
