/**
 * The zone's own cache, as Cloudflare puts it under a Worker's subrequests
 * (the network runs it as the outbound service of every POP and of the
 * control plane's instance, so origin fetches and shield fills pass it).
 *
 * On Cloudflare a Worker's fetch() to an origin reads through the zone's
 * cache: a GET for a file of a cacheable extension is cached under its URL
 * (Cloudflare's default cache behaviour: its extension list, the origin's
 * max-age or s-maxage, two hours for a 200 without one, never with no-store,
 * private, no-cache or Set-Cookie), Vary ignored, and a purge of Outpost's
 * never reaches it. A fetch that opts out (`cache: "no-store"`, which workerd
 * sends on as `Cache-Control: no-cache` and `Pragma: no-cache`) goes straight
 * to the origin. Locally this layer is what a fetch that forgot to opt out
 * would read from, so a test shows it.
 *
 * It is bundled apart (esbuild, by network.ts) and never deployed.
 */

/** Cloudflare's default cacheable file extensions. */
const CACHEABLE_EXTENSION =
  /\.(7z|apk|avi|avif|bin|bmp|bz2|class|css|csv|dmg|doc|docx|ejs|eot|eps|exe|flac|gif|gz|ico|iso|jar|jpeg|jpg|js|mid|midi|mkv|mp3|mp4|ogg|otf|pdf|pict|pls|png|ppt|pptx|ps|rar|svg|svgz|swf|tar|tif|tiff|ttf|webm|webp|woff|woff2|xls|xlsx|zip|zst)$/i;

/** The cache the zone keeps: its own, apart from the Cache API's default the Worker uses. */
const ZONE_CACHE = "cloudflare-zone";
const DEFAULT_TTL_SECONDS = 7200;

function optsOut(request: Request): boolean {
  return /no-cache/i.test(request.headers.get("cache-control") ?? "") || /no-cache/i.test(request.headers.get("pragma") ?? "");
}

/** The seconds the zone keeps an origin's answer, or 0. */
function zoneTtl(response: Response): number {
  const cc = response.headers.get("cache-control") ?? "";
  if (response.status !== 200 || /no-store|private|no-cache/i.test(cc) || response.headers.has("set-cookie")) return 0;
  const seconds = /s-maxage=(\d+)/i.exec(cc)?.[1] ?? /max-age=(\d+)/i.exec(cc)?.[1];
  return seconds === undefined ? DEFAULT_TTL_SECONDS : Number(seconds);
}

function marked(response: Response, status: "HIT" | "MISS"): Response {
  const out = new Response(response.body, response);
  out.headers.set("cf-cache-status", status);
  return out;
}

export default {
  async fetch(request: Request, _env: unknown, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "GET" || optsOut(request) || !CACHEABLE_EXTENSION.test(url.pathname)) return fetch(request);
    const cache = await caches.open(ZONE_CACHE);
    const hit = await cache.match(url.toString());
    if (hit) return marked(hit, "HIT");
    const response = await fetch(request);
    const ttl = zoneTtl(response);
    if (ttl > 0) {
      const stored = new Response(response.clone().body, response);
      stored.headers.set("cache-control", `max-age=${ttl}`);
      ctx.waitUntil(cache.put(url.toString(), stored));
    }
    return marked(response, "MISS");
  },
};
