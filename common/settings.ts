/**
 * The worker's settings from plain environment variables (wrangler.toml
 * [vars], or Miniflare bindings), validated like OUTPOST_CONFIG: a bad value
 * is an error naming the variable, never a NaN that silently stops a POP.
 * Each setting and its default is declared here once.
 */
import { z } from "zod";
import { problemLines } from "./zod-issues";
import { ConfigError, type OutpostConfig } from "./config";

const integer = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, "must be a whole number of the unit, e.g. 1000")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((v) => v ?? fallback)
    // Its bounds, for the generated docs: the JSON Schema of a variable is a string of digits.
    .meta({ range: [min, max] });

export const SettingsSchema = z.object({
  SNAPSHOT_REFRESH_MS: integer(20, 600_000, 1000).describe(
    "How often a POP isolate with traffic syncs with the control plane, ms, when it polls; with held syncs, how long after its last answer an isolate counts as idle (three times this).",
  ),
  SNAPSHOT_LONG_POLL_MS: integer(0, 25_000, 20_000).describe("How long the control plane holds a POP's sync waiting for news (a long poll), ms; 0: polling only."),
  METRICS_REPORT_MS: integer(0, 600_000, 30_000).describe(
    "How often a POP isolate with traffic sends its figures between held syncs, ms (a held sync carries figures only when it is armed, up to SNAPSHOT_LONG_POLL_MS apart); 0: with syncs only. The dashboard's figures are this fresh. A report waits in a request's waitUntil (at most 25 s): past that, it goes with the first request within 25 s of its time.",
  ),
  PURGE_CATCH_UP_AFTER: integer(1, 1_000_000, 2000).describe(
    "Purge rules an isolate may be behind and still take them in pages (2,000 a sync answer); further behind (a new isolate after a deploy, one back from a long silence), it fetches the folded catch-up instead: every rule in force in one bounded answer.",
  ),
  CONTROL_RATE_LIMIT_PER_MINUTE: integer(1, 1_000_000, 600).describe("Requests a minute each control API token (and each client address failing to authenticate) may make."),
  OUTPOST_ROLE: z
    .enum(["pop", "control", "both"])
    .optional()
    .transform((v) => v ?? "both")
    .describe('"pop" serves content, "control" serves the control API, "both" (the default, as on Cloudflare) picks by Host: CONTROL_HOSTS get the control API.'),
});

export type Settings = z.output<typeof SettingsSchema>;

/** The control API's host when CONTROL_HOST / CONTROL_HOSTS say none: POPs reach it by the CONTROL binding. */
export const DEFAULT_CONTROL_HOST = "control.internal";

/** Parses the settings from an env object; throws ConfigError naming each bad variable. */
export function parseSettings(env: { readonly [K in keyof Settings]?: unknown }): Settings {
  const picked = Object.fromEntries(Object.keys(SettingsSchema.shape).map((k) => [k, env[k as keyof Settings] === "" ? undefined : env[k as keyof Settings]]));
  const result = SettingsSchema.safeParse(picked);
  if (!result.success) throw new ConfigError(problemLines(result.error), "environment");
  return result.data;
}

/**
 * How long purge rules are kept: no stored entry outlives maxRetentionSeconds,
 * plus a day for clocks and in-flight fills. POPs and the control plane both ask here.
 */
export function purgeHorizonMs(config: OutpostConfig): number {
  return (config.cache.maxRetentionSeconds + 86400) * 1000;
}
