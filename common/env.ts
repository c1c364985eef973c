/**
 * The bindings and variables the worker runs with (wrangler.toml documents
 * each). The settings' variables are inferred from their schema
 * (settings.ts), where each is declared once with its default.
 */
import type { z } from "zod";
import type { SettingsSchema } from "./settings";

/** Each setting as the environment gives it: a string, or absent for its default. */
type SettingVariables = { [K in keyof z.input<typeof SettingsSchema>]?: z.input<typeof SettingsSchema>[K] };

export interface Env extends SettingVariables {
  /** The Outpost configuration as JSON (common/config.ts). */
  OUTPOST_CONFIG: string;
  /** Comma-separated hostnames answered by the control API when the role is "both". */
  CONTROL_HOSTS?: string;
  /** The hostname POPs use to reach the control plane through the CONTROL binding. */
  CONTROL_HOST?: string;
  /** How POPs reach the control plane: a service binding (to this worker on Cloudflare). */
  CONTROL?: Fetcher;
  /** The control plane's Durable Object. */
  CONTROL_PLANE?: DurableObjectNamespace;
  /** Regional relays (control/relay.ts): one Durable Object per location hint, holding its region's syncs. */
  RELAY?: DurableObjectNamespace;
  /** Shield shards (the upper tier), one Durable Object per region and shard. */
  SHIELD?: DurableObjectNamespace;
  /** Secret: the token POPs present to the control plane. */
  POP_TOKEN?: string;
  /** Secret: JSON list of operator tokens, [{"name","token","scopes":["purge","read","admin"]}]. */
  CONTROL_TOKENS?: string;
  /** Cloudflare zone whose cache the control plane also purges (with CF_API_TOKEN). */
  CF_ZONE_ID?: string;
  /** Secret: an API token with the Cache Purge permission on CF_ZONE_ID. */
  CF_API_TOKEN?: string;
  /** Cloudflare API base URL; only tests change it. */
  CF_API_BASE?: string;
  /** POP name when request.cf has no colo. */
  POP_NAME?: string;
}
