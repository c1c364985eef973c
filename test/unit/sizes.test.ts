/**
 * Product code stays readable in pieces: no file over 400 lines, no function
 * over 60, outside scripts/ and tests. Measured on the sources with
 * TypeScript's own parser.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const PRODUCT = ["worker.ts", "common", "edge", "control", "origin"];
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 60;

function sources(path: string): string[] {
  if (!statSync(join(ROOT, path)).isDirectory()) return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  return readdirSync(join(ROOT, path)).flatMap((name) => sources(join(path, name)));
}

const files = PRODUCT.flatMap(sources);

/** Each function-like node with a body longer than `max` lines, as "file:line name (n lines)". */
function longFunctions(file: string, max: number): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const lines = source.getLineAndCharacterOfPosition(node.getEnd()).line - first + 1;
      const name = "name" in node && node.name ? node.name.getText(source) : "(anonymous)";
      if (lines > max) found.push(`${file}:${first + 1} ${name} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("sizes of product code", () => {
  it("has sources to measure", () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    const long = files.filter((f) => readFileSync(join(ROOT, f), "utf8").split("\n").length > MAX_FILE_LINES);
    expect(long).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    expect(files.flatMap((f) => longFunctions(f, MAX_FUNCTION_LINES))).toEqual([]);
  });
});
