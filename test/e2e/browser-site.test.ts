/**
 * A real site, a real server, a real browser: Swagger UI (the static
 * distribution in the npm package swagger-ui-dist: HTML, a 1.5 MB JavaScript
 * bundle, CSS, PNG icons) served by nginx with its own Cache-Control and
 * validators, a POP in front as `npm start -- --origin URL` puts it, loaded
 * twice in headless Chromium. The page renders both times; the second load's
 * assets are all hits, the origin sees only revalidations, and JavaScript and
 * CSS come br or zstd.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../../scripts/network";
import { freePort } from "../../scripts/free-port";
import { findChromium, startTestNetwork } from "./helpers";
import { NGINX, nginxConfig, startNginx, stopNginx } from "./nginx";

const SITE = join(import.meta.dirname, "..", "..", "node_modules", "swagger-ui-dist");

const chromium = findChromium();
const missing = [!chromium && "chromium", !NGINX && "nginx"].filter(Boolean);
if (missing.length) console.warn(`browser site test skipped: no ${missing.join(" or ")} (apt-get install ${missing.join(" ")})`);

let dir: string;
let server: ChildProcess | undefined;
let network: Network | undefined;
let browser: Browser | undefined;

/** nginx as a site owner would set it up: HTML revalidated on every use, assets fresh for an hour. */
function siteConfig(port: number): string {
  return nginxConfig(
    dir,
    `
  include /etc/nginx/mime.types;
  log_format seen '$request_uri $status inm=$http_if_none_match ims=$http_if_modified_since ua=$http_user_agent';
  access_log ${dir}/access.log seen;
  server {
    listen 127.0.0.1:${port};
    root ${SITE};
    index index.html;
    location ~ \\.html$ { add_header Cache-Control "no-cache"; }
    location / { add_header Cache-Control "public, max-age=3600"; }
  }`,
  );
}

/** The origin's access log lines since `from` (a line count), the health probes' apart. */
function originLog(from: number): string[] {
  const lines = readFileSync(join(dir, "access.log"), "utf8").split("\n").filter(Boolean).slice(from);
  return lines.filter((line) => !line.includes("ua=Outpost-HealthCheck"));
}

interface Seen {
  path: string;
  status: number;
  cacheStatus: string;
  encoding: string;
}

describe.skipIf(missing.length > 0)("Swagger UI from nginx, through a POP, in headless Chromium", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "outpost-site-"));
    mkdirSync(join(dir, "body"));
    const port = await freePort();
    writeFileSync(join(dir, "nginx.conf"), siteConfig(port));
    server = await startNginx(dir, "nginx.conf", `http://127.0.0.1:${port}/index.html`);
    network = await startTestNetwork({ externalOrigin: `http://127.0.0.1:${port}` });
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await network?.stop();
    await stopNginx(server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One load of the page with the browser's own cache off, so every request reaches the POP. */
  async function load(): Promise<Seen[]> {
    const page = await browser!.newPage();
    await page.setCacheEnabled(false);
    const pop = new URL(network!.topology.pops[0].url);
    const seen: Seen[] = [];
    page.on("response", (response) => {
      const url = new URL(response.url());
      if (url.host !== pop.host) return;
      const headers = response.headers();
      seen.push({ path: url.pathname, status: response.status(), cacheStatus: headers["cache-status"] ?? "", encoding: headers["content-encoding"] ?? "identity" });
    });
    await page.goto(`${pop.origin}/index.html`, { waitUntil: "load", timeout: 60_000 });
    // Swagger UI renders its layout from the bundle; the API description it asks for lives on the
    // internet, which the test has none of, and the layout says so.
    await page.waitForSelector("#swagger-ui .swagger-ui", { timeout: 30_000 });
    await page.close();
    return seen;
  }

  it("renders twice; the second load's assets are hits, the origin sees only revalidations, and JS and CSS come br or zstd", async () => {
    const first = await load();
    const assets = ["/swagger-ui.css", "/index.css", "/swagger-ui-bundle.js", "/swagger-ui-standalone-preset.js", "/swagger-initializer.js"];
    for (const path of ["/index.html", ...assets]) expect(first.find((s) => s.path === path)?.status, path).toBe(200);

    const logged = readFileSync(join(dir, "access.log"), "utf8").split("\n").filter(Boolean).length;
    const second = await load();
    for (const path of assets) {
      const answer = second.find((s) => s.path === path);
      expect(answer?.status, path).toBe(200);
      expect(answer?.cacheStatus, path).toMatch(/Outpost-\w+;hit/);
    }
    for (const s of second.filter((x) => /\.(js|css)$/.test(x.path))) expect(["br", "zstd"], `${s.path} came ${s.encoding}`).toContain(s.encoding);
    // The HTML is no-cache: revalidated through the tiers, and the origin answers 304.
    const html = second.find((s) => s.path === "/index.html");
    expect(html?.status).toBe(200);
    const origin = originLog(logged);
    expect(origin.length).toBeGreaterThan(0);
    for (const line of origin) {
      // nginx logs an absent field as "-": each request carried a validator, and was answered 304.
      expect(line, "every origin request of the second load is a revalidation").toMatch(/ 304 /);
      expect(line).not.toMatch(/inm=- ims=- /);
    }
  });
});
