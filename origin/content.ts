/**
 * The reference origin's demo content: one object of each kind a CDN serves,
 * each with its own Cache-Control and Cache-Tag, built deterministically so
 * that every origin serves identical bytes and validators.
 */
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";

export interface DemoObject {
  body: Uint8Array;
  contentType: string;
  cacheControl: string;
  tags: string[];
  lastModified: Date;
  etag: string;
}

const LAST_MODIFIED = new Date("2026-11-01T00:00:00Z");

function etagOf(body: Uint8Array): string {
  return `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
}

function object(body: string | Uint8Array, contentType: string, cacheControl: string, tags: string[]): DemoObject {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return { body: bytes, contentType, cacheControl, tags, lastModified: LAST_MODIFIED, etag: etagOf(bytes) };
}

/** A real PNG (a 64×64 gradient), so image tools and browsers accept it. */
function gradientPng(size = 64): Uint8Array {
  const crcTable = new Uint32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(typed));
    return Buffer.concat([len, typed, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const raw = Buffer.alloc(size * (1 + size * 3));
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 3);
    for (let x = 0; x < size; x++) {
      raw[row + 1 + x * 3] = (x * 4) & 0xff;
      raw[row + 2 + x * 3] = (y * 4) & 0xff;
      raw[row + 3 + x * 3] = 0x80;
    }
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]));
}

/** Deterministic pseudo-random bytes (xorshift), so every origin serves the same large file. */
export function deterministicBytes(size: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her she there been one all we their has would when if so no will can more other its into only new " +
  "cache origin edge request response header status fresh stale purge tag region latency bytes stream server client " +
  '<div> </div> <span class="item"> </span> {"id": 42, "name": "widget", "price": 19.99} function return const let'
).split(" ");

/**
 * Text of a given size that compresses like real HTML and JSON do (about 3-5x
 * with gzip), not like one repeated line: deterministic words from a small vocabulary.
 */
/** Each word encoded once with its separator: generating 64 MiB took 12 s encoding a word at a time. */
const WORDS_SPACE: Uint8Array[] = [];
const WORDS_NEWLINE: Uint8Array[] = [];

export function textOfSize(size: number, label: string): Uint8Array {
  const out = new Uint8Array(size);
  const enc = new TextEncoder();
  let x = 0x2545f491 ^ label.length;
  let offset = 0;
  const header = enc.encode(`${label}\n`);
  out.set(header.subarray(0, size), 0);
  offset = Math.min(size, header.byteLength);
  let column = 0;
  while (offset < size) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const index = (x >>> 0) % WORDS.length;
    const piece = column > 70 ? (WORDS_NEWLINE[index] ??= enc.encode(`${WORDS[index]}\n`)) : (WORDS_SPACE[index] ??= enc.encode(`${WORDS[index]} `));
    column = column > 70 ? 0 : column + piece.byteLength;
    const n = Math.min(piece.byteLength, size - offset);
    out.set(piece.subarray(0, n), offset);
    offset += n;
  }
  return out;
}

const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Outpost demo</title>
<link rel="stylesheet" href="/styles/site.css"><script src="/scripts/app.js" defer></script></head>
<body><h1>Outpost</h1><p>Served through an edge POP.</p><img src="/images/logo.svg" alt="logo"><img src="/images/photo.png" alt="photo"></body>
</html>
`;

const products = JSON.stringify({ products: Array.from({ length: 50 }, (_, i) => ({ id: i + 1, name: `Product ${i + 1}`, price: 10 + i })) }, null, 2);

export const DEMO_CONTENT: Record<string, DemoObject> = {
  "/index.html": object(html, "text/html; charset=utf-8", "public, max-age=60", ["page", "home"]),
  "/styles/site.css": object(`body{font-family:sans-serif;margin:2rem}h1{color:#f38020}\n`.repeat(40), "text/css; charset=utf-8", "public, max-age=3600", ["static", "css"]),
  "/scripts/app.js": object(
    `document.addEventListener("DOMContentLoaded",()=>console.log("outpost demo"));\n`.repeat(40),
    "text/javascript; charset=utf-8",
    "public, max-age=3600",
    ["static", "js"],
  ),
  "/api/products.json": object(products, "application/json", "public, max-age=10, stale-while-revalidate=30, stale-if-error=600", ["api", "products", "product-42"]),
  "/images/logo.svg": object(
    `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" rx="6" fill="#f38020"/><text x="12" y="27" font-size="20" fill="#fff">Outpost</text></svg>\n`,
    "image/svg+xml",
    "public, max-age=86400",
    ["images", "logo"],
  ),
  "/images/photo.png": object(gradientPng(), "image/png", "public, max-age=86400", ["images", "photo"]),
  "/files/large.bin": object(deterministicBytes(6 * 1024 * 1024), "application/octet-stream", "public, max-age=3600", ["files", "large"]),
};
