/**
 * A Cache API store for the workerd binary run by itself (bench-raw-workerd-miss.ts).
 *
 * workerd sends a worker's `caches.default` and `caches.open()` calls to the
 * service named as its `cacheApiOutbound`, over HTTP: PUT with the response
 * serialized as the request's body (status line, headers, a blank line, the
 * body), GET to match, PURGE to delete; `cf-cache-namespace` names an opened
 * cache. A miss is a 504 with `cf-cache-status: MISS`. This is the protocol
 * Miniflare's cache answers; without such a service, raw workerd keeps nothing.
 *
 * Entries live in this isolate's memory, whole, until their max-age ends.
 * The bench runs it in a workerd process of its own: each put carries every
 * byte to another process, as a put to the colo's cache does on Cloudflare,
 * without Miniflare's SQLite-and-blob store behind it. Bundled apart and
 * never deployed.
 */

interface Entry {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  expiresAt: number;
}

const entries = new Map<string, Entry>();

const keyOf = (request: Request) => `${request.headers.get("cf-cache-namespace") ?? ""} ${request.url}`;

const CRLFCRLF = [13, 10, 13, 10];

function headEnd(bytes: Uint8Array): number {
  outer: for (let i = 0; i + 3 < bytes.byteLength; i++) {
    for (let j = 0; j < 4; j++) if (bytes[i + j] !== CRLFCRLF[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * The response a put carries, read whole by the runtime (one native read: a store of ours reading
 * 4 KiB chunks in JavaScript would cost more than Cloudflare's own cache does).
 */
async function parseStored(body: ReadableStream<Uint8Array>): Promise<Omit<Entry, "expiresAt">> {
  const bytes = new Uint8Array(await new Response(body).arrayBuffer());
  const end = headEnd(bytes);
  if (end === -1) throw new Error("a put without a blank line after its head");
  const [statusLine, ...lines] = new TextDecoder().decode(bytes.subarray(0, end)).split("\r\n");
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d+)/.exec(statusLine)?.[1]);
  const headers = lines.map((line): [string, string] => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]);
  return { status, headers, body: bytes.subarray(end + 4) };
}

function maxAgeSeconds(headers: [string, string][]): number {
  const cacheControl = headers.find(([name]) => name.toLowerCase() === "cache-control")?.[1] ?? "";
  return Number(/(?:s-maxage|max-age)=(\d+)/i.exec(cacheControl)?.[1] ?? 0);
}

const miss = () => new Response(null, { status: 504, headers: { "cf-cache-status": "MISS" } });

export default {
  async fetch(request: Request): Promise<Response> {
    const key = keyOf(request);
    if (request.method === "PUT") {
      if (!request.body) return new Response(null, { status: 400 });
      const stored = await parseStored(request.body);
      const seconds = maxAgeSeconds(stored.headers);
      if (seconds <= 0) return new Response(null, { status: 413 });
      entries.set(key, { ...stored, expiresAt: Date.now() + seconds * 1000 });
      return new Response(null, { status: 204 });
    }
    if (request.method === "PURGE") return new Response(null, { status: entries.delete(key) ? 200 : 404 });
    const entry = entries.get(key);
    if (!entry || entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return miss();
    }
    const headers = new Headers(entry.headers);
    headers.set("cf-cache-status", "HIT");
    headers.set("content-length", String(entry.body.byteLength));
    return new Response(entry.body, { status: entry.status, headers });
  },
};
