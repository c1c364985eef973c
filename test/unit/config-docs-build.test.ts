import { readFileSync } from "node:fs";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { configDocsSection, NETWORK_SCHEMA, networkSchemaText, README, rowsOf, withConfigDocs } from "../../scripts/build-config-docs";
import { loadNetworkConfig } from "../../scripts/network-config";

describe("README's configuration tables", () => {
  it("are what the zod schemas make (run npm run build:config-docs after changing a setting)", () => {
    const readme = readFileSync(README, "utf8");
    expect(withConfigDocs(readme)).toBe(readme);
  });

  it("give every setting a meaning: a new one is documented where it is declared", () => {
    const undocumented = configDocsSection()
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .filter((line) => line.trimEnd().endsWith("|  |"));
    expect(undocumented).toEqual([]);
  });
});

describe("the network file's JSON Schema", () => {
  it("is what the zod schema makes (run npm run build:config-docs after changing it)", () => {
    expect(readFileSync(NETWORK_SCHEMA, "utf8")).toBe(networkSchemaText());
  });

  it("is the one outpost.config.json names, and the file still parses with it named", () => {
    const file = JSON.parse(readFileSync(README.replace(/README\.md$/, "outpost.config.json"), "utf8")) as { $schema?: string };
    expect(file.$schema).toBe("./outpost.config.schema.json");
    expect(loadNetworkConfig(README.replace(/README\.md$/, "outpost.config.json")).pops.length).toBeGreaterThan(0);
  });
});

describe("rowsOf", () => {
  const schema = z.object({
    sites: z
      .array(z.object({ id: z.string().describe("name") }))
      .min(1)
      .describe("the sites"),
    cache: z
      .object({
        memoryBytes: z
          .number()
          .int()
          .min(0)
          .default(32 * 1024 * 1024)
          .describe("held | in memory"),
        mode: z.enum(["a", "b"]).optional().describe("how"),
      })
      .default({ memoryBytes: 1, mode: undefined })
      .describe("the cache"),
  });
  const rows = rowsOf(z.toJSONSchema(schema, { io: "input" }) as Parameters<typeof rowsOf>[0]);

  it("names nested fields by their path, list items with []", () => {
    expect(rows.map((r) => r.field)).toEqual(["sites[]", "sites[].id", "cache", "cache.memoryBytes", "cache.mode"]);
  });

  it("says what is required, what is unset, sizes in MiB, bounds and choices", () => {
    const by = Object.fromEntries(rows.map((r) => [r.field, r]));
    expect(by["sites[]"]).toMatchObject({ defaultText: "required", allowed: "at least 1", meaning: "the sites" });
    expect(by["sites[].id"]).toMatchObject({ defaultText: "required", allowed: "string" });
    expect(by["cache.memoryBytes"]).toMatchObject({ defaultText: "`33554432` (32 MiB)", allowed: "≥ 0", meaning: "held \\| in memory" });
    expect(by["cache.mode"]).toMatchObject({ defaultText: "(unset)", allowed: "`a`, `b`" });
  });
});
