/**
 * `npm run deploy:check`: everything `wrangler deploy` would ship, checked
 * offline first, each problem named. It reads wrangler.toml as wrangler does
 * (unstable_readConfig), validates OUTPOST_CONFIG and the settings with the
 * product's own schemas, checks the bindings and migrations the worker needs,
 * the secrets' presence in the file you will give `wrangler secret bulk`
 * (never printing a value), and bundles with `wrangler deploy --dry-run`.
 *
 *   npm run deploy:check
 *   npm run deploy:check -- --config path/to/wrangler.toml --secrets secrets.json
 *
 * Exits 1 when anything would break the deploy; warnings say what to do before it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { unstable_readConfig } from "wrangler";
import { readTokenList } from "../common/auth";
import { ConfigError, parseConfig } from "../common/config";
import { parseSettings } from "../common/settings";

const ROOT = resolve(fileURLToPath(import.meta.url), "..", "..");

/** Cloudflare's limit on one environment variable (Workers platform limits). */
export const MAX_VARIABLE_BYTES = 5 * 1024;
/** Request.cache (origin fetches that skip the zone's cache) needs this compatibility date or later. */
const MIN_COMPATIBILITY_DATE = "2024-11-11";

/** The parts of wrangler's configuration the check reads. */
export interface DeployConfig {
  name?: string;
  main?: string;
  compatibility_date?: string;
  compatibility_flags?: string[];
  vars: Record<string, unknown>;
  routes?: unknown[];
  durable_objects: { bindings: { name: string; class_name: string }[] };
  services?: { binding: string; service: string }[];
  migrations: { tag: string; new_sqlite_classes?: string[]; new_classes?: string[] }[];
}

export interface DeployFindings {
  errors: string[];
  warnings: string[];
}

function checkWorker(config: DeployConfig, out: DeployFindings): void {
  if (!config.name) out.errors.push("wrangler.toml: name is missing");
  if (config.main && !/worker\.ts$/.test(config.main)) out.errors.push(`wrangler.toml: main is ${config.main}, not worker.ts (the composition root)`);
  const date = config.compatibility_date ?? "";
  if (date < MIN_COMPATIBILITY_DATE)
    out.errors.push(`wrangler.toml: compatibility_date ${date || "(none)"} is before ${MIN_COMPATIBILITY_DATE}: origin fetches could not skip the zone's cache`);
  if (!config.compatibility_flags?.includes("nodejs_compat")) out.errors.push("wrangler.toml: compatibility_flags lacks nodejs_compat (brotli and zstd need node:zlib)");
  const bindings = new Map(config.durable_objects.bindings.map((b) => [b.name, b.class_name]));
  const migrated = new Set(config.migrations.flatMap((m) => [...(m.new_sqlite_classes ?? []), ...(m.new_classes ?? [])]));
  for (const [binding, className] of [
    ["CONTROL_PLANE", "ControlPlane"],
    ["SHIELD", "Shield"],
    ["RELAY", "Relay"],
  ]) {
    if (bindings.get(binding) !== className) out.errors.push(`wrangler.toml: no Durable Object binding ${binding} → ${className}`);
    if (!migrated.has(className)) out.errors.push(`wrangler.toml: no migration creates ${className} (new_sqlite_classes)`);
  }
  const control = config.services?.find((s) => s.binding === "CONTROL");
  if (!control || control.service !== config.name)
    out.errors.push(`wrangler.toml: no service binding CONTROL to this worker ("${config.name ?? ""}"): POPs could not reach the control plane`);
  if (!config.routes?.length) out.warnings.push("wrangler.toml: no routes: the Cache API does nothing on *.workers.dev; add your zone's hosts (README, Deploy)");
}

function checkVariables(config: DeployConfig, out: DeployFindings): void {
  const vars = config.vars;
  const text = typeof vars.OUTPOST_CONFIG === "string" ? vars.OUTPOST_CONFIG : undefined;
  if (text === undefined) out.errors.push("vars: OUTPOST_CONFIG is missing");
  else {
    const bytes = new TextEncoder().encode(text).byteLength;
    if (bytes > MAX_VARIABLE_BYTES)
      out.errors.push(
        `vars: OUTPOST_CONFIG is ${bytes} bytes; Cloudflare takes at most ${MAX_VARIABLE_BYTES} per variable: keep a small configuration here to bootstrap and put the whole one to the control plane (PUT /v1/config)`,
      );
    try {
      const parsed = parseConfig(text, "OUTPOST_CONFIG");
      if (parsed.sites.some((s) => s.hosts.some((h) => h.endsWith("example.com"))))
        out.warnings.push("vars: OUTPOST_CONFIG still serves example.com hosts: put your sites and origins there");
    } catch (err) {
      if (err instanceof ConfigError) out.errors.push(...err.problems.map((p) => `vars: OUTPOST_CONFIG: ${p}`));
      else out.errors.push(`vars: OUTPOST_CONFIG: ${(err as Error).message}`);
    }
  }
  try {
    parseSettings(vars);
  } catch (err) {
    out.errors.push(...(err instanceof ConfigError ? err.problems : [(err as Error).message]).map((p) => `vars: ${p}`));
  }
  const hosts = String(vars.CONTROL_HOSTS ?? "control.internal")
    .split(",")
    .map((h) => h.trim());
  const controlHost = String(vars.CONTROL_HOST ?? "control.internal");
  if (!hosts.includes(controlHost)) out.errors.push(`vars: CONTROL_HOST "${controlHost}" is not in CONTROL_HOSTS: POPs' syncs would reach the POP pipeline, not the control API`);
}

function checkSecrets(config: DeployConfig, secrets: Record<string, unknown> | undefined, out: DeployFindings): void {
  if (!secrets) {
    out.warnings.push("secrets: not checked; pass --secrets <file.json> (the file for wrangler secret bulk) to check POP_TOKEN and CONTROL_TOKENS");
    return;
  }
  const popToken = secrets.POP_TOKEN;
  if (typeof popToken !== "string" || popToken.length < 32) out.errors.push("secrets: POP_TOKEN is missing or shorter than 32 characters (openssl rand -hex 32)");
  // As the worker reads it (common/auth.ts): a secret is a string, here as in wrangler secret bulk.
  const tokens = typeof secrets.CONTROL_TOKENS === "string" ? readTokenList(secrets.CONTROL_TOKENS) : { problems: ["missing, or not a string of JSON"] };
  if ("problems" in tokens) out.errors.push(...tokens.problems.map((p) => `secrets: CONTROL_TOKENS: ${p}`));
  else if (!tokens.tokens.some((t) => t.scopes.includes("admin"))) out.warnings.push("secrets: CONTROL_TOKENS has no admin token: no one can change origins");
  if (config.vars.CF_ZONE_ID && typeof secrets.CF_API_TOKEN !== "string") out.errors.push("secrets: CF_ZONE_ID is set but CF_API_TOKEN is missing: Cloudflare purges would fail");
}

/** Every problem found in a configuration and its secrets (values never in the messages). */
export function deployFindings(config: DeployConfig, secrets?: Record<string, unknown>): DeployFindings {
  const out: DeployFindings = { errors: [], warnings: [] };
  checkWorker(config, out);
  checkVariables(config, out);
  checkSecrets(config, secrets, out);
  return out;
}

/** wrangler.toml as wrangler reads it. */
export function readDeployConfig(path: string): DeployConfig {
  return unstable_readConfig({ config: path }, { hideWarnings: true }) as unknown as DeployConfig;
}

/** The bundle, built as `wrangler deploy` would, without uploading: undefined, or what went wrong. */
function bundleProblem(configPath: string): string | undefined {
  const out = mkdtempSync(join(tmpdir(), "outpost-deploy-check-"));
  try {
    const run = spawnSync(process.execPath, [join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "deploy", "--dry-run", "--outdir", out, "--config", configPath], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
    });
    return run.status === 0 ? undefined : `wrangler deploy --dry-run failed:\n${(run.stdout + run.stderr).trim().split("\n").slice(-15).join("\n")}`;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function main(): void {
  const { values } = parseArgs({
    options: { config: { type: "string", default: join(ROOT, "wrangler.toml") }, secrets: { type: "string" }, "no-bundle": { type: "boolean", default: false } },
  });
  const configPath = resolve(values.config!);
  if (!existsSync(configPath)) throw new Error(`no ${configPath}`);
  const secrets = values.secrets ? (JSON.parse(readFileSync(resolve(values.secrets), "utf8")) as Record<string, unknown>) : undefined;
  const findings = deployFindings(readDeployConfig(configPath), secrets);
  if (!values["no-bundle"] && findings.errors.length === 0) {
    const problem = bundleProblem(configPath);
    if (problem) findings.errors.push(problem);
  }
  for (const warning of findings.warnings) console.log(`warning: ${warning}`);
  for (const error of findings.errors) console.log(`error: ${error}`);
  console.log(findings.errors.length ? `deploy:check: ${findings.errors.length} problem(s) to fix before wrangler deploy` : "deploy:check: ready for wrangler deploy");
  process.exitCode = findings.errors.length ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
