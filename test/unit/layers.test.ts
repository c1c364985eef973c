/**
 * The layers depend one way (DESIGN.md, "Layers"): common/ imports nothing of
 * ours; edge/ and control/ import common/ and never each other, without
 * exception; worker.ts, outside both, is the one module that wires them. No module reaches itself through its
 * imports. Read from the sources' import statements, type imports included.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']/g;

/** The modules of ours a file imports, as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const base = normalize(join(dirname(file), match[1]));
    const candidates = [`${base}.ts`, base, join(base, "index.ts")];
    const hit = candidates.find((c) => {
      try {
        return statSync(join(ROOT, c)).isFile();
      } catch {
        return false;
      }
    });
    if (hit) found.push(relative(ROOT, join(ROOT, hit)));
  }
  return found;
}

const PRODUCT = [...["common", "edge", "control"].flatMap(sources), "worker.ts"];
const graph = new Map(PRODUCT.map((file) => [file, importsOf(file)]));
const layerOf = (file: string) => file.split("/")[0];

describe("layers", () => {
  it("common/ imports nothing outside itself", () => {
    const outward = [...graph].flatMap(([file, imports]) => (layerOf(file) === "common" ? imports.filter((i) => layerOf(i) !== "common").map((i) => `${file} → ${i}`) : []));
    expect(outward).toEqual([]);
  });

  it("edge/ and control/ never import each other (worker.ts, outside both, wires them)", () => {
    const crossing = [...graph].flatMap(([file, imports]) => {
      const from = layerOf(file);
      if (from !== "edge" && from !== "control") return [];
      return imports.filter((i) => layerOf(i) !== from && layerOf(i) !== "common").map((i) => `${file} → ${i}`);
    });
    expect(crossing).toEqual([]);
  });

  it("no module reaches itself through its imports", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" → "));
        return;
      }
      state.set(file, "open");
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
