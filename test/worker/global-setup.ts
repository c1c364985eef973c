/** Starts one reference origin in Node for the worker tests, which run inside workerd. */
import type { TestProject } from "vitest/node";
import { startOrigin } from "../../origin/server";

declare module "vitest" {
  export interface ProvidedContext {
    originUrl: string;
    originAdminUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const origin = await startOrigin({ id: "test-origin", region: "local" });
  project.provide("originUrl", `http://127.0.0.1:${origin.port}`);
  project.provide("originAdminUrl", `http://127.0.0.1:${origin.adminPort}`);
  return async () => origin.close();
}
