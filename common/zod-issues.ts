/**
 * zod's issues as Outpost reports them, one way everywhere (configuration,
 * environment, tokens, request bodies): the field's path as a reader writes
 * it (`sites[0].hosts`) and what is wrong with it.
 */
import type { z } from "zod";

export interface FieldProblem {
  field: string;
  message: string;
}

/** `sites[0].hosts`; `root` for the value itself. */
export function fieldPath(path: ReadonlyArray<PropertyKey>, root = "(root)"): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || root;
}

export function fieldProblems(error: z.ZodError, root?: string): FieldProblem[] {
  return error.issues.map((issue) => ({ field: fieldPath(issue.path, root), message: issue.message }));
}

/** One line a problem: `field: message`. */
export function problemLines(error: z.ZodError, root?: string): string[] {
  return fieldProblems(error, root).map((p) => `${p.field}: ${p.message}`);
}
