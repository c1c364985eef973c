import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { testBindings } from "./test/worker/env";

export default defineConfig({
  test: {
    projects: [
      {
        // Pure modules' tests sit beside them (edge/http/reuse.test.ts); the rest in test/unit.
        test: { name: "unit", include: ["test/unit/**/*.test.ts", "{common,edge,control}/**/*.test.ts"], environment: "node" },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            main: "./worker.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: testBindings(inject("originUrl")) },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/worker/**/*.test.ts"],
          globalSetup: ["test/worker/global-setup.ts"],
          testTimeout: 20_000,
          // The files share one origin and its fault switch.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
