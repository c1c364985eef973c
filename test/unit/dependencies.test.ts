/**
 * Every package in package.json is used: imported by code, named by a
 * config file, or run by a script. A package nothing uses is removed, not kept.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mts|js|json|toml)$/.test(name) ? [path] : [];
  });
}

/** Tools that are run rather than imported, and where. */
const RUN_BY: Record<string, RegExp> = {
  typescript: /\btsc\b/,
  tsx: /\btsx\b/,
  vitest: /\bvitest\b/,
  wrangler: /\bwrangler\b/,
  "@biomejs/biome": /\bbiome\b/,
};

describe("dependencies", () => {
  it("every package in package.json is used", () => {
    const text = [...["common", "edge", "control", "origin", "scripts", "test"].flatMap((d) => sources(join(ROOT, d))), join(ROOT, "vitest.config.ts"), join(ROOT, "tsconfig.json")]
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const scripts = Object.values(pkg.scripts).join("\n");
    const unused = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => {
      if (RUN_BY[name]?.test(scripts)) return false;
      // @types/x is used when x is.
      const imported = name.startsWith("@types/") ? name.slice(7) : name;
      if (imported === "node") return false;
      return !new RegExp(`["'\`]${imported.replace(/[/.]/g, "\\$&")}(/[^"'\`]*)?["'\`]`).test(text);
    });
    expect(unused).toEqual([]);
  });
});
