/**
 * On Cloudflare a Worker's fetch reads through the zone's own cache (for
 * cacheable extensions, and anything a Cache Rule caches). Outpost is the
 * cache: a copy there would outlive our purges and ignore Vary. `cache:
 * "no-store"` makes the runtime neither look it up nor store it (Request.cache,
 * compatibility date 2024-11-11 or later). workers-types does not declare the
 * field yet, hence the cast; every origin fetch and probe spreads this.
 * https://developers.cloudflare.com/changelog/2024-11-11-cache-no-store/
 */
export const ZONE_CACHE_BYPASS = { cache: "no-store" } as RequestInit;
