/**
 * `npm run dashboard:screenshot`: the picture in README. Starts the local
 * network (POPs straight to origins, as chaos scenario 1), loads every POP,
 * takes FRA's nearest origin down, and photographs /dashboard in headless
 * Chromium once the map shows it down and FRA's misses going elsewhere.
 * Bounded: about 40 s of load, then it stops by itself.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { loadNetworkConfig } from "./network-config";
import { ROOT, startNetwork } from "./network";
import { runMixedLoad, setFault } from "./chaos-scenarios";

const OUT = join(ROOT, "docs", "dashboard.png");
const chromium = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => p && existsSync(p));

async function main(): Promise<void> {
  if (!chromium) throw new Error("no Chromium: apt-get install chromium, or set CHROMIUM_PATH");
  const config = loadNetworkConfig(join(ROOT, "outpost.config.json"));
  config.basePort = 0;
  config.shield = { ...config.shield!, enabled: false };
  const network = await startNetwork({ config, buildDir: join(ROOT, ".outpost", "screenshot-build"), snapshotRefreshMs: 250, metricsReportMs: 1000 });
  const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const t = network.topology;
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000, deviceScaleFactor: 1 });
    await page.goto(`${t.control.url}/dashboard#token=${t.control.token}`);
    const paths = ["/index.html", "/styles/site.css", "/scripts/app.js", "/images/logo.svg"];
    const load = Promise.all(t.pops.map((pop) => runMixedLoad(pop, paths, 40_000, 3, 20_000)));
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const origin = t.origins.find((o) => o.id === "eu-central")!;
    await setFault(origin, { mode: "down" });
    try {
      await page.waitForSelector('#map rect[data-origin="eu-central"][data-healthy="false"]', { timeout: 20_000 });
      await page.waitForSelector('#map line[data-link^="Outpost-FRA>"]:not([data-link$=">eu-central"])', { timeout: 20_000 });
      await new Promise((resolve) => setTimeout(resolve, 6000));
      await page.screenshot({ path: OUT, fullPage: true });
      console.log(`written to ${OUT}`);
    } finally {
      await setFault(origin, { mode: "ok" });
    }
    await load;
  } finally {
    await browser.close();
    await network.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
