/**
 * Bearer tokens with scopes. Tokens come from secrets (CONTROL_TOKENS,
 * POP_TOKEN); they are compared in constant time and never logged or echoed.
 */
import { z } from "zod";
import { problemLines } from "./zod-issues";

export type Scope = "purge" | "read" | "admin" | "pop";

export interface TokenGrant {
  name: string;
  scopes: Scope[];
}

const TokenListSchema = z.array(
  z.object({
    name: z.string().min(1),
    token: z.string().min(16, "tokens must be at least 16 characters"),
    scopes: z.array(z.enum(["purge", "read", "admin"])).min(1),
  }),
);

interface TokenRecord extends TokenGrant {
  token: string;
}

/** Constant-time comparison: the time taken does not tell how much of a guess was right. */
export function timingSafeEqualStrings(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  const n = Math.max(ea.length, eb.length);
  for (let i = 0; i < n; i++) diff |= (ea[i % (ea.length || 1)] ?? 0) ^ (eb[i % (eb.length || 1)] ?? 0);
  return diff === 0;
}

/** CONTROL_TOKENS read: its tokens, or what is wrong with it (the words never hold a token). */
export function readTokenList(controlTokens: string): { tokens: TokenRecord[] } | { problems: string[] } {
  const parsed = TokenListSchema.safeParse(safeJson(controlTokens));
  return parsed.success ? { tokens: parsed.data } : { problems: problemLines(parsed.error) };
}

export class TokenStore {
  private readonly records: TokenRecord[];

  constructor(controlTokens: string | undefined, popToken: string | undefined) {
    this.records = [];
    if (controlTokens) {
      const read = readTokenList(controlTokens);
      // A malformed secret grants nothing; the message names the problem, never a token.
      if ("tokens" in read) this.records.push(...read.tokens);
      else console.error(`outpost: CONTROL_TOKENS is invalid: ${read.problems.join("; ")}`);
    }
    if (popToken) this.records.push({ name: "pops", token: popToken, scopes: ["pop"] });
  }

  /** Checks every record so that timing does not reveal which one matched. */
  authenticate(authorization: string | null | undefined): TokenGrant | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) return undefined;
    let grant: TokenGrant | undefined;
    for (const record of this.records) {
      if (timingSafeEqualStrings(record.token, m[1]) && !grant) grant = { name: record.name, scopes: record.scopes };
    }
    return grant;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** admin implies every operator scope. */
export function grants(grant: TokenGrant, scope: Scope): boolean {
  if (grant.scopes.includes(scope)) return true;
  return scope !== "pop" && grant.scopes.includes("admin");
}

const tokenStores = new Map<string, TokenStore>();

/** The token store for these secrets, built once per isolate and secret set. */
export function tokenStoreFor(controlTokens: string | undefined, popToken: string | undefined): TokenStore {
  const id = `${controlTokens ?? ""}\n${popToken ?? ""}`;
  let store = tokenStores.get(id);
  if (!store) {
    store = new TokenStore(controlTokens, popToken);
    tokenStores.clear();
    tokenStores.set(id, store);
  }
  return store;
}
